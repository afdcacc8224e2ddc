// The drover binary: flags in, subcommand out. Everything else lives in cli/.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return drover::cli::RunMain(args, {std::cin, std::cout, std::cerr});
}
