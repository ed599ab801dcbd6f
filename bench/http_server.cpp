// bench_http_server: tendd's HTTP side with N resources (fake engine and spec loader from
// tests/daemon/fixture.h, so the figures measure the daemon, not providers).
// Usage: bench_http_server N WORKDIR PORTFILE   — runs until SIGTERM.
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "core/log.h"
#include "tests/daemon/fixture.h"

int main(int argc, char** argv) {
  using namespace tend;
  if (argc != 4) {
    std::cerr << "usage: bench_http_server N WORKDIR PORTFILE\n";
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const std::string work = argv[2];
  std::filesystem::create_directories(work + "/spec");
  std::string spec;
  for (int i = 0; i < n; ++i) spec += "container/app" + std::to_string(i) + "/web\n";
  test::writeFile(work + "/spec/spec.txt", spec);
  log::configure(log::Level::Warn, log::Format::Text);

  daemon::DaemonOptions o;
  o.specDir = work + "/spec";
  o.statePath = work + "/state/tend.db";
  o.listen = "127.0.0.1:0";
  o.socketPath = work + "/tendd.sock";
  o.debounce = std::chrono::milliseconds(300);
  daemon::DaemonHooks h;
  h.loader = test::fakeLoad;
  auto script = std::make_shared<test::EngineScript>();
  h.engineFactory = [script](EngineDeps d, EngineOptions) -> std::unique_ptr<Engine> {
    return std::make_unique<test::FakeEngine>(std::move(d), script);
  };
  h.openState = [](const std::string&) -> Result<std::unique_ptr<StateStore>> {
    return std::unique_ptr<StateStore>(std::make_unique<test::MemoryStateStore>());
  };
  daemon::Daemon d(std::move(o), std::move(h));
  std::thread announce([&] {
    while (!d.listening()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::ofstream(argv[3]) << d.tcpPort() << "\n";
  });
  int rc = d.run();
  announce.join();
  return rc;
}
