#pragma once
#include <string>
std::string to_upper(std::string s);
