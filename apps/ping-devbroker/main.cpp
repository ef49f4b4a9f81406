// ping-devbroker: the development Kafka broker with Ping's topic.
// DEV AND TEST USE ONLY (see subprojects/kafka-devbroker).

#include <devbroker/devbroker.hpp>

int main(int argc, char** argv) {
  return devbroker::main(argc, argv, {"ping-devbroker", {"ping-events:3"}});
}
