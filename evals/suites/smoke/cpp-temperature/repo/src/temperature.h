#pragma once
int to_fahrenheit(int celsius);
int to_celsius(int fahrenheit);
