#pragma once
// Orderly shutdown on SIGTERM/SIGINT: block both before any thread starts
// (so every thread inherits the mask), then wait for one in the main thread.

#include <csignal>

namespace ping::apps {

/// Blocks SIGTERM and SIGINT in the calling thread and its future children.
void block_shutdown_signals();

/// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int wait_for_shutdown_signal();

} // namespace ping::apps
