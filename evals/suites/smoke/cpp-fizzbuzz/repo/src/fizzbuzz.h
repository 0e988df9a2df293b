#pragma once
#include <string>
std::string fizzbuzz(int n);
