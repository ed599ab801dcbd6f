// Fuzzes the SOPS and age parsers tend runs on pushed content: a SOPS document (YAML or JSON,
// decided by the first byte) decrypted with the identities of the committed SOPS vectors and
// the demo key, and the same bytes as an age file (binary or armored), a key file, a
// recipient, Bech32 and armor. A value that decrypts must re-encrypt and decrypt to itself.
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/secrets/age.h"
#include "core/secrets/sops.h"

namespace age = tend::secrets::age;
namespace sops = tend::secrets;

namespace {

std::string readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const age::Identities& identities() {
  static const age::Identities ids = [] {
    age::Identities out;
    const std::string d = std::string(TEND_SOURCE_DIR) + "/tests/testdata/secrets/";
    for (const char* f :
         {"demo-age.key", "sops-vectors/getsops-sops-examples-age/keys.txt",
          "sops-vectors/sops-nix/age-keys.txt", "sops-vectors/helm-secrets/key.txt",
          "sops-vectors/terraform-provider-sops/age0.key.txt",
          "sops-vectors/sops-age-keysource-test/mockIdentity.txt"}) {
      auto r = age::parseIdentityFile(readAll(d + f));
      if (!r) {
        std::fprintf(stderr, "cannot read %s%s\n", d.c_str(), f);
        std::abort();
      }
      for (auto& id : *r) out.x25519.push_back(id);
    }
    // The identity of the age CCTV vectors (public test data, tests/testdata/secrets/age-cctv).
    auto cctv = age::parseIdentity("AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0");
    if (cctv) out.x25519.push_back(*cctv);
    out.passphrases.emplace_back(std::string("password"));
    out.maxScryptWorkFactor = 10;  // scrypt stanzas asking more are refused: fast executions
    return out;
  }();
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  const auto& ids = identities();

  auto fmt = (size > 0 && data[0] == '{') ? sops::SopsFormat::kJson : sops::SopsFormat::kYaml;
  auto dec = sops::decryptSops(in, fmt, ids.x25519);
  if (dec) (void)sops::decryptSopsToPlain(in, fmt, ids.x25519);

  auto out = age::decryptDetailed(in, ids);
  if (out.failure == age::Failure::kNone) {
    auto whole = age::decrypt(in, ids);
    if (!whole || whole->reveal() != out.plaintext) {
      std::fprintf(stderr, "decrypt and decryptDetailed disagree\n");
      std::abort();
    }
  }
  (void)age::parseIdentityFile(in);
  (void)age::parseRecipient(in);
  (void)age::bech32Decode(in);
  if (auto d = age::dearmor(in)) {
    // Armor is canonical: what dearmors must armor back to something that dearmors the same.
    auto again = age::dearmor(age::armor(*d));
    if (!again || *again != *d) {
      std::fprintf(stderr, "armor round trip differs\n");
      std::abort();
    }
  }
  return 0;
}
