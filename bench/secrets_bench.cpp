// Secrets throughput: age payload encrypt/decrypt (MiB/s) and whole-file SOPS decrypt + MAC
// verification for a typical and a large secrets file (what tendd pays on the first get()).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/secrets/age.h"
#include "core/secrets/crypto.h"
#include "core/secrets/sops.h"

namespace {
using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
}  // namespace

int main() {
  using namespace tend::secrets;
  auto id = age::generateIdentity();
  std::string recipient = age::formatRecipient(id.pub);
  age::Identities ids;
  ids.x25519 = {id};

  const size_t size = 64ull << 20;
  std::string plain = crypto::randomBytes(size);
  auto t0 = Clock::now();
  auto enc = age::encrypt(plain, {recipient}, false);
  double encMs = msSince(t0);
  t0 = Clock::now();
  auto dec = age::decrypt(*enc, ids);
  double decMs = msSince(t0);
  if (!dec || dec->reveal() != plain) {
    std::fprintf(stderr, "age round trip failed\n");
    return 1;
  }
  std::printf("age encrypt 64 MiB: %.1f ms (%.0f MiB/s)\n", encMs, 64 / (encMs / 1000));
  std::printf("age decrypt 64 MiB: %.1f ms (%.0f MiB/s)\n", decMs, 64 / (decMs / 1000));

  // Small-file latency: an armored 32-byte data key, as in every SOPS file.
  auto small = age::encrypt(std::string(32, 'k'), {recipient}, true);
  const int n = 2000;
  t0 = Clock::now();
  for (int i = 0; i < n; i++) (void)age::decrypt(*small, ids);
  std::printf("age decrypt armored data key: %.1f us/op\n", msSince(t0) * 1000 / n);

  for (int values : {20, 1000}) {
    std::string doc;
    for (int i = 0; i < values; i++) doc += "secret_" + std::to_string(i) + ": value-" + std::to_string(i) + "-xxxxxxxxxxxxxxxx\n";
    t0 = Clock::now();
    auto file = sopsEncryptPlain(doc, SopsFormat::kYaml, {recipient});
    double e = msSince(t0);
    const int reps = values > 100 ? 20 : 500;
    t0 = Clock::now();
    for (int i = 0; i < reps; i++) {
      auto d = decryptSops(*file, SopsFormat::kYaml, {id});
      if (!d) {
        std::fprintf(stderr, "sops decrypt failed: %s\n", d.error().message.c_str());
        return 1;
      }
    }
    std::printf("sops %d values: encrypt %.2f ms, decrypt+verify MAC %.3f ms\n", values, e, msSince(t0) / reps);
  }
  return 0;
}
