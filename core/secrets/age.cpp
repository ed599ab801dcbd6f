#include "core/secrets/age.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/crypto.h>

#include "core/secrets.h"
#include "core/secrets/crypto.h"

namespace tend::secrets::age {
namespace {

using crypto::wipe;

constexpr char kIntro[] = "age-encryption.org/v1\n";
constexpr char kArmorHeader[] = "-----BEGIN AGE ENCRYPTED FILE-----";
constexpr char kArmorFooter[] = "-----END AGE ENCRYPTED FILE-----";
constexpr size_t kChunkSize = 64 * 1024;
constexpr size_t kTagSize = 16;
constexpr size_t kFileKeySize = 16;
constexpr char kX25519Label[] = "age-encryption.org/v1/X25519";
constexpr char kScryptLabel[] = "age-encryption.org/v1/scrypt";

constexpr char kBech32Charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t bech32Polymod(const std::vector<uint8_t>& values) {
  static const uint32_t kGen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    uint8_t b = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++)
      if ((b >> i) & 1) chk ^= kGen[i];
  }
  return chk;
}

std::vector<uint8_t> hrpExpand(const std::string& hrp) {
  std::vector<uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(c) & 31);
  return out;
}

// Regroups bits; `pad` on encode. On decode, leftover bits must be fewer than `from` and zero.
bool convertBits(const std::vector<uint8_t>& in, int from, int to, bool pad, std::vector<uint8_t>& out) {
  uint32_t acc = 0;
  int bits = 0;
  const uint32_t maxv = (1u << to) - 1;
  for (uint8_t v : in) {
    if ((v >> from) != 0) return false;
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back((acc >> bits) & maxv);
    }
  }
  if (pad) {
    if (bits > 0) out.push_back((acc << (to - bits)) & maxv);
  } else if (bits >= from || ((acc << (to - bits)) & maxv) != 0) {
    return false;
  }
  return true;
}

// One recipient stanza: "-> type args..." plus its decoded body.
struct Stanza {
  std::string type;
  std::vector<std::string> args;
  std::string body;
  ~Stanza() { wipe(body); }
};

struct Header {
  std::vector<Stanza> stanzas;
  std::string mac;          // 32 bytes
  std::string macInput;     // header bytes up to and including "---"
  size_t payloadOffset = 0;
};

bool validArg(const std::string& a) {
  if (a.empty()) return false;
  return std::all_of(a.begin(), a.end(), [](char c) { return c >= 33 && c <= 126; });
}

std::vector<std::string> splitSpaces(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t sp = line.find(' ', pos);
    out.push_back(line.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  return out;
}

// Strict unpadded base64 as used in the header (no CR/LF, canonical).
std::optional<std::string> headerB64(const std::string& s) {
  if (s.find_first_of("\r\n=") != std::string::npos) return std::nullopt;
  return crypto::base64Decode(s, false);
}

Result<Header> parseHeader(const std::string& f) {
  Header h;
  const size_t introLen = sizeof(kIntro) - 1;
  if (f.compare(0, introLen, kIntro) != 0) {
    if (f.rfind("age-encryption.org/", 0) == 0) return makeError("unsupported age version");
    return makeError("not an age file (missing age-encryption.org/v1 header)");
  }
  size_t pos = introLen;
  auto nextLine = [&](std::string& line) -> bool {
    size_t nl = f.find('\n', pos);
    if (nl == std::string::npos) return false;
    line = f.substr(pos, nl - pos);
    pos = nl + 1;
    return true;
  };
  while (true) {
    if (f.compare(pos, 3, "---") == 0) {
      size_t lineStart = pos;
      std::string line;
      if (!nextLine(line)) return makeError("age header: truncated closing line");
      auto parts = splitSpaces(line);
      if (parts.size() != 2 || parts[0] != "---") return makeError("age header: malformed closing line");
      auto mac = headerB64(parts[1]);
      if (!mac || mac->size() != 32) return makeError("age header: malformed MAC");
      h.mac = *mac;
      h.macInput = f.substr(0, lineStart + 3);
      h.payloadOffset = pos;
      break;
    }
    std::string line;
    if (!nextLine(line)) return makeError("age header: truncated");
    auto parts = splitSpaces(line);
    if (parts.size() < 2 || parts[0] != "->") return makeError("age header: malformed stanza line");
    for (size_t i = 1; i < parts.size(); i++)
      if (!validArg(parts[i])) return makeError("age header: malformed stanza argument");
    Stanza s;
    s.type = parts[1];
    s.args.assign(parts.begin() + 2, parts.end());
    while (true) {
      std::string bl;
      if (!nextLine(bl)) return makeError("age header: stanza body truncated");
      auto b = headerB64(bl);
      if (!b) return makeError("age header: malformed stanza body line");
      if (b->size() > 48) return makeError("age header: stanza body line too long");
      s.body += *b;
      bool shortLine = b->size() < 48;
      wipe(*b);
      if (shortLine) break;
    }
    h.stanzas.push_back(std::move(s));
  }
  if (h.stanzas.empty()) return makeError("age header: no recipient stanzas");
  return h;
}

// Outcome of trying one identity on one stanza.
enum class Unwrap { kOk, kNoMatch, kInvalid };

Unwrap unwrapX25519(const Stanza& s, const X25519Identity& id, std::string& fileKey, std::string& err) {
  if (s.type != "X25519") return Unwrap::kNoMatch;
  if (s.args.size() != 1) {
    err = "invalid X25519 stanza: wrong number of arguments";
    return Unwrap::kInvalid;
  }
  auto share = headerB64(s.args[0]);
  if (!share || share->size() != 32) {
    err = "invalid X25519 stanza: bad share";
    return Unwrap::kInvalid;
  }
  std::string priv(reinterpret_cast<const char*>(id.secret.data()), 32);
  std::string pub(reinterpret_cast<const char*>(id.pub.data()), 32);
  auto shared = crypto::x25519(priv, *share);
  wipe(priv);
  if (!shared) {
    err = "invalid X25519 stanza: low-order share";
    return Unwrap::kInvalid;
  }
  std::string wrapKey = crypto::hkdfSha256(*shared, *share + pub, kX25519Label, 32);
  wipe(*shared);
  if (s.body.size() != kFileKeySize + kTagSize) {
    wipe(wrapKey);
    err = "invalid X25519 stanza: incorrect file key size";
    return Unwrap::kInvalid;
  }
  auto key = crypto::chachaOpen(wrapKey, std::string(12, '\0'), s.body);
  wipe(wrapKey);
  if (!key) return Unwrap::kNoMatch;
  fileKey = std::move(*key);
  return Unwrap::kOk;
}

bool isDecimalWorkFactor(const std::string& a) {
  if (a.empty() || a.size() > 2 || a[0] < '1' || a[0] > '9') return false;
  return std::all_of(a.begin(), a.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Unwrap unwrapScrypt(const Stanza& s, const SecretString& pass, int maxLogN, std::string& fileKey,
                    std::string& err) {
  if (s.type != "scrypt") return Unwrap::kNoMatch;
  if (s.args.size() != 2) {
    err = "invalid scrypt stanza: wrong number of arguments";
    return Unwrap::kInvalid;
  }
  auto salt = headerB64(s.args[0]);
  if (!salt || salt->size() != 16) {
    err = "invalid scrypt stanza: bad salt";
    return Unwrap::kInvalid;
  }
  if (!isDecimalWorkFactor(s.args[1])) {
    err = "invalid scrypt stanza: bad work factor";
    return Unwrap::kInvalid;
  }
  int logN = std::stoi(s.args[1]);
  if (logN > maxLogN || logN > 30) {
    err = "scrypt work factor too large: " + s.args[1];
    return Unwrap::kInvalid;
  }
  if (s.body.size() != kFileKeySize + kTagSize) {
    err = "invalid scrypt stanza: incorrect file key size";
    return Unwrap::kInvalid;
  }
  auto key = crypto::scrypt(pass.reveal(), kScryptLabel + *salt, logN, 32);
  if (!key) {
    err = "scrypt failed (not enough memory?)";
    return Unwrap::kInvalid;
  }
  auto fk = crypto::chachaOpen(*key, std::string(12, '\0'), s.body);
  wipe(*key);
  if (!fk) return Unwrap::kNoMatch;
  fileKey = std::move(*fk);
  return Unwrap::kOk;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

X25519Identity::~X25519Identity() { OPENSSL_cleanse(secret.data(), secret.size()); }
DecryptOutcome::~DecryptOutcome() { wipe(plaintext); }

const char* failureName(Failure f) {
  switch (f) {
    case Failure::kNone: return "success";
    case Failure::kArmor: return "armor failure";
    case Failure::kHeader: return "header failure";
    case Failure::kNoMatch: return "no match";
    case Failure::kHmac: return "HMAC failure";
    case Failure::kPayload: return "payload failure";
  }
  return "?";
}

Result<std::pair<std::string, std::vector<uint8_t>>> bech32Decode(const std::string& s) {
  bool lower = false, upper = false;
  for (char c : s) {
    if (c < 33 || c > 126) return makeError("bech32: invalid character");
    lower = lower || std::islower(static_cast<unsigned char>(c));
    upper = upper || std::isupper(static_cast<unsigned char>(c));
  }
  if (lower && upper) return makeError("bech32: mixed case");
  std::string l = s;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t sep = l.rfind('1');
  if (sep == std::string::npos || sep < 1 || sep + 7 > l.size()) return makeError("bech32: malformed");
  std::string hrp = l.substr(0, sep);
  std::vector<uint8_t> data;
  for (size_t i = sep + 1; i < l.size(); i++) {
    const char* p = std::strchr(kBech32Charset, l[i]);
    if (!p || !*p) return makeError("bech32: invalid character");
    data.push_back(static_cast<uint8_t>(p - kBech32Charset));
  }
  auto values = hrpExpand(hrp);
  values.insert(values.end(), data.begin(), data.end());
  if (bech32Polymod(values) != 1) return makeError("bech32: checksum mismatch");
  data.resize(data.size() - 6);
  std::vector<uint8_t> bytes;
  if (!convertBits(data, 5, 8, false, bytes)) return makeError("bech32: invalid padding");
  OPENSSL_cleanse(data.data(), data.size());
  OPENSSL_cleanse(values.data(), values.size());
  return std::make_pair(hrp, bytes);
}

std::string bech32Encode(const std::string& hrp, const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> data;
  convertBits(bytes, 8, 5, true, data);
  auto values = hrpExpand(hrp);
  values.insert(values.end(), data.begin(), data.end());
  values.insert(values.end(), 6, 0);
  uint32_t mod = bech32Polymod(values) ^ 1;
  for (int i = 0; i < 6; i++) data.push_back((mod >> (5 * (5 - i))) & 31);
  std::string out = hrp + "1";
  for (uint8_t d : data) out.push_back(kBech32Charset[d]);
  OPENSSL_cleanse(data.data(), data.size());
  OPENSSL_cleanse(values.data(), values.size());
  return out;
}

Result<X25519Identity> parseIdentity(const std::string& s) {
  if (s.rfind("AGE-SECRET-KEY-1", 0) != 0) return makeError("not an age X25519 identity (AGE-SECRET-KEY-1...)");
  auto d = bech32Decode(s);
  if (!d) return makeError("malformed age identity: " + d.error().message);
  auto& [hrp, bytes] = *d;
  if (hrp != "age-secret-key-" || bytes.size() != 32) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return makeError("malformed age identity");
  }
  X25519Identity id;
  std::copy(bytes.begin(), bytes.end(), id.secret.begin());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  std::string priv(reinterpret_cast<const char*>(id.secret.data()), 32);
  auto pub = crypto::x25519Public(priv);
  wipe(priv);
  if (!pub) return makeError("malformed age identity");
  std::copy(pub->begin(), pub->end(), id.pub.begin());
  return id;
}

Result<std::vector<X25519Identity>> parseIdentityFile(const std::string& text) {
  std::vector<X25519Identity> out;
  std::istringstream in(text);
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    lineNo++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') {
      wipe(line);
      continue;
    }
    size_t e = line.find_last_not_of(" \t");
    std::string key = line.substr(b, e - b + 1);
    wipe(line);
    auto id = parseIdentity(key);
    // The private key must never be echoed by anything that quotes it (an error, a file
    // shown by mistake): every sink redacts it from now on.
    if (id) {
      Redactor::instance().add(key);
      std::string lower = key;  // bech32 is case-insensitive
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      Redactor::instance().add(lower);
      wipe(lower);
    }
    wipe(key);
    // The message names the line, never its content (it is a private key).
    if (!id) return makeError("age key file line " + std::to_string(lineNo) + ": " + id.error().message);
    out.push_back(*id);
  }
  if (out.empty()) return makeError("age key file contains no identities");
  return out;
}

Result<std::vector<X25519Identity>> loadIdentityFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return makeError("cannot read age key file " + path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto ids = parseIdentityFile(text);
  wipe(text);
  if (!ids) return makeError(path + ": " + ids.error().message);
  return ids;
}

Result<std::array<uint8_t, 32>> parseRecipient(const std::string& s) {
  auto d = bech32Decode(s);
  if (!d || d->first != "age" || d->second.size() != 32)
    return makeError("malformed age recipient: " + s);
  std::array<uint8_t, 32> out{};
  std::copy(d->second.begin(), d->second.end(), out.begin());
  return out;
}

std::string formatRecipient(const std::array<uint8_t, 32>& pub) {
  return bech32Encode("age", std::vector<uint8_t>(pub.begin(), pub.end()));
}

std::string formatIdentity(const X25519Identity& id) {
  std::vector<uint8_t> b(id.secret.begin(), id.secret.end());
  std::string s = bech32Encode("age-secret-key-", b);
  OPENSSL_cleanse(b.data(), b.size());
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

X25519Identity generateIdentity() {
  std::string priv = crypto::randomBytes(32);
  X25519Identity id;
  std::copy(priv.begin(), priv.end(), id.secret.begin());
  auto pub = crypto::x25519Public(priv);
  wipe(priv);
  std::copy(pub->begin(), pub->end(), id.pub.begin());
  return id;
}

Result<std::string> dearmor(const std::string& text) {
  size_t pos = 0;
  size_t ws = 0;
  while (pos < text.size() && isSpace(text[pos]) && ws < 1024) pos++, ws++;
  auto getLine = [&](std::string& line) -> bool {
    if (pos >= text.size()) return false;
    size_t nl = text.find('\n', pos);
    line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  };
  std::string line;
  if (!getLine(line) || line != kArmorHeader) return makeError("armor: invalid first line");
  std::string out;
  while (true) {
    if (!getLine(line)) return makeError("armor: missing end line");
    if (line == kArmorFooter) break;
    if (line.size() > 64) return makeError("armor: line too long");
    if (line.empty()) return makeError("armor: empty line");
    auto b = crypto::base64Decode(line, true);
    if (!b) return makeError("armor: invalid base64 line");
    out += *b;
    if (b->size() < 48) {
      if (!getLine(line) || line != kArmorFooter) return makeError("armor: invalid closing line");
      break;
    }
  }
  std::string rest = text.substr(pos);
  if (rest.size() >= 1024) return makeError("armor: too much trailing whitespace");
  if (!std::all_of(rest.begin(), rest.end(), isSpace)) return makeError("armor: trailing data after armored file");
  return out;
}

std::string armor(const std::string& binary) {
  std::string b64 = crypto::base64Encode(binary, true);
  std::string out = std::string(kArmorHeader) + "\n";
  for (size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += std::string(kArmorFooter) + "\n";
  return out;
}

DecryptOutcome decryptDetailed(const std::string& file, const Identities& ids) {
  size_t b = 0;
  while (b < file.size() && isSpace(file[b])) b++;
  bool armored = file.compare(b, 10, "-----BEGIN") == 0;
  return decryptDetailed(file, ids, armored);
}

DecryptOutcome decryptDetailed(const std::string& input, const Identities& ids, bool armored) {
  DecryptOutcome r;
  std::string dearmored;
  if (armored) {
    auto d = dearmor(input);
    if (!d) {
      r.failure = Failure::kArmor;
      r.message = "age: " + d.error().message;
      return r;
    }
    dearmored = std::move(*d);
  }
  const std::string& file = armored ? dearmored : input;
  auto h = parseHeader(file);
  if (!h) {
    r.failure = Failure::kHeader;
    r.message = h.error().message;
    return r;
  }
  for (const auto& s : h->stanzas) {
    if (s.type == "scrypt" && h->stanzas.size() != 1) {
      r.failure = Failure::kHeader;
      r.message = "age header: an scrypt stanza must be the only one";
      return r;
    }
  }
  std::string fileKey;
  std::string err;
  bool found = false;
  auto tryAll = [&](auto&& unwrapOne) -> bool {  // false on an invalid stanza
    for (const auto& s : h->stanzas) {
      Unwrap u = unwrapOne(s);
      if (u == Unwrap::kInvalid) return false;
      if (u == Unwrap::kOk) {
        found = true;
        return true;
      }
    }
    return true;
  };
  for (const auto& id : ids.x25519) {
    if (found) break;
    if (!tryAll([&](const Stanza& s) { return unwrapX25519(s, id, fileKey, err); })) {
      r.failure = Failure::kHeader;
      r.message = "age: " + err;
      return r;
    }
  }
  for (const auto& p : ids.passphrases) {
    if (found) break;
    if (!tryAll([&](const Stanza& s) { return unwrapScrypt(s, p, ids.maxScryptWorkFactor, fileKey, err); })) {
      r.failure = Failure::kHeader;
      r.message = "age: " + err;
      return r;
    }
  }
  if (!found) {
    r.failure = Failure::kNoMatch;
    r.message = "age: no identity matched any of the file's recipients (wrong key?)";
    return r;
  }
  std::string macKey = crypto::hkdfSha256(fileKey, "", "header", 32);
  std::string mac = crypto::hmacSha256(macKey, h->macInput);
  wipe(macKey);
  if (CRYPTO_memcmp(mac.data(), h->mac.data(), 32) != 0) {
    wipe(fileKey);
    r.failure = Failure::kHmac;
    r.message = "age: header MAC mismatch (file tampered or corrupted)";
    return r;
  }
  size_t pos = h->payloadOffset;
  if (file.size() - pos < 16) {
    wipe(fileKey);
    r.failure = Failure::kHeader;
    r.message = "age: truncated file (missing payload nonce)";
    return r;
  }
  std::string payloadKey = crypto::hkdfSha256(fileKey, file.substr(pos, 16), "payload", 32);
  wipe(fileKey);
  pos += 16;
  const size_t encChunk = kChunkSize + kTagSize;
  uint64_t counter = 0;
  auto fail = [&](const char* why) {
    r.failure = Failure::kPayload;
    r.message = std::string("age: ") + why;
  };
  while (true) {
    size_t rem = file.size() - pos;
    if (rem == 0) {
      fail("truncated file (no final chunk)");
      break;
    }
    bool last = false;
    size_t n = encChunk;
    if (rem < encChunk) {
      n = rem;
      last = true;
      if (counter != 0 && rem == kTagSize) {
        fail("final chunk is empty");
        break;
      }
    }
    std::string nonce(12, '\0');
    for (int i = 0; i < 8; i++) nonce[10 - i] = static_cast<char>((counter >> (8 * i)) & 0xff);
    nonce[11] = last ? 1 : 0;
    std::string chunk = file.substr(pos, n);
    auto pt = crypto::chachaOpen(payloadKey, nonce, chunk);
    if (!pt && !last) {
      // A full-size chunk may be the final one.
      last = true;
      nonce[11] = 1;
      pt = crypto::chachaOpen(payloadKey, nonce, chunk);
    }
    if (!pt) {
      fail("payload chunk failed to authenticate (truncated or tampered)");
      break;
    }
    r.plaintext += *pt;
    wipe(*pt);
    pos += n;
    counter++;
    if (last) {
      if (pos != file.size()) fail("trailing data after end of encrypted file");
      break;
    }
  }
  wipe(payloadKey);
  wipe(dearmored);
  return r;
}

Result<SecretString> decrypt(const std::string& file, const Identities& ids) {
  auto r = decryptDetailed(file, ids);
  if (r.failure != Failure::kNone) return makeError(r.message);
  SecretString s(std::move(r.plaintext));
  return s;
}

Result<std::string> encrypt(const std::string& plaintext, const std::vector<std::string>& recipients,
                            bool armorOut) {
  if (recipients.empty()) return makeError("age: no recipients");
  std::vector<std::array<uint8_t, 32>> pubs;
  for (const auto& r : recipients) {
    auto p = parseRecipient(r);
    if (!p) return p.error();
    pubs.push_back(*p);
  }
  std::string fileKey = crypto::randomBytes(kFileKeySize);
  std::string header = kIntro;
  for (const auto& p : pubs) {
    std::string pub(reinterpret_cast<const char*>(p.data()), 32);
    std::string eph = crypto::randomBytes(32);
    auto share = crypto::x25519Public(eph);
    auto shared = crypto::x25519(eph, pub);
    wipe(eph);
    if (!share || !shared) {
      wipe(fileKey);
      return makeError("age: invalid recipient public key");
    }
    std::string wrapKey = crypto::hkdfSha256(*shared, *share + pub, kX25519Label, 32);
    wipe(*shared);
    std::string body = crypto::chachaSeal(wrapKey, std::string(12, '\0'), fileKey);
    wipe(wrapKey);
    header += "-> X25519 " + crypto::base64Encode(*share, false) + "\n";
    std::string b64 = crypto::base64Encode(body, false);
    for (size_t i = 0; i < b64.size(); i += 64) header += b64.substr(i, 64) + "\n";
    if (b64.size() % 64 == 0) header += "\n";
  }
  header += "---";
  std::string macKey = crypto::hkdfSha256(fileKey, "", "header", 32);
  std::string mac = crypto::hmacSha256(macKey, header);
  wipe(macKey);
  header += " " + crypto::base64Encode(mac, false) + "\n";
  std::string nonce = crypto::randomBytes(16);
  std::string payloadKey = crypto::hkdfSha256(fileKey, nonce, "payload", 32);
  wipe(fileKey);
  std::string out = header + nonce;
  uint64_t counter = 0;
  size_t pos = 0;
  do {
    size_t n = std::min(kChunkSize, plaintext.size() - pos);
    bool last = pos + n == plaintext.size();
    std::string cn(12, '\0');
    for (int i = 0; i < 8; i++) cn[10 - i] = static_cast<char>((counter >> (8 * i)) & 0xff);
    cn[11] = last ? 1 : 0;
    std::string part = plaintext.substr(pos, n);
    out += crypto::chachaSeal(payloadKey, cn, part);
    wipe(part);
    pos += n;
    counter++;
    if (last) break;
  } while (true);
  wipe(payloadKey);
  if (armorOut) return armor(out);
  return out;
}

}  // namespace tend::secrets::age
