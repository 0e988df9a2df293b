#include <iostream>
int main() { std::cout << "dsagent " DSAGENT_VERSION "\n"; }
