#include "devbroker/devbroker.hpp"

int main(int argc, char** argv) {
  return devbroker::main(argc, argv, devbroker::defaults{});
}
