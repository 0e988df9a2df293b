#include "common/cancel.h"

#include <unistd.h>

#include <csignal>
#include <vector>

namespace dsagent {
namespace {
// The signal handler may only touch lock-free atomics; the shared_ptr below keeps the flag alive
// for the rest of the process.
std::shared_ptr<std::atomic<bool>> g_keep_alive;
std::atomic<std::atomic<bool>*> g_flag{nullptr};
std::atomic<bool> g_received{false};
std::atomic<bool> g_terminate{false};

void OnSignal(int signal) {
  if (signal == SIGTERM) g_terminate.store(true);
  if (g_received.exchange(true)) _exit(signal == SIGTERM ? 143 : 130);
  if (auto* f = g_flag.load()) f->store(true);
}
}  // namespace

void InstallInterruptHandler(const CancelToken& token) {
  g_keep_alive = token.flag_;
  g_flag.store(g_keep_alive.get());
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void RetargetInterruptHandler(const CancelToken& token) {
  // Earlier flags stay alive: a handler running on another thread may still hold a pointer to
  // one. One small allocation per step.
  static std::vector<std::shared_ptr<std::atomic<bool>>> retired;
  if (g_keep_alive) retired.push_back(g_keep_alive);
  g_keep_alive = token.flag_;
  g_flag.store(g_keep_alive.get());
  g_received.store(false);
}

bool InterruptReceived() { return g_received.load(); }

bool TerminationRequested() { return g_terminate.load(); }

}  // namespace dsagent
