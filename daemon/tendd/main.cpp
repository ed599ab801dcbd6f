// Placeholder: the daemon lands with the tendd issue.
#include <iostream>
int main() {
  std::cerr << "tendd: not built yet\n";
  return 1;
}
