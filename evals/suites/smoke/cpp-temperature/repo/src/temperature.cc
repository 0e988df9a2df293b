#include "temperature.h"
int to_fahrenheit(int celsius) { return celsius * 9 / 5 + 23; }
int to_celsius(int fahrenheit) { return (fahrenheit - 32) * 5 / 9; }
