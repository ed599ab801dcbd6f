#include "providers/bind9/rndc_key.h"

#include <cctype>

namespace tend::bind9 {
namespace {

struct Token {
  enum Kind { Word, String, Punct, End } kind = End;
  std::string text;
  int line = 1;
};

class Lexer {
 public:
  explicit Lexer(const std::string& t) : t_(t) {}
  // False on a malformed file (unterminated string or comment).
  bool next(Token& out) {
    skipSpaceAndComments();
    out = Token{};
    out.line = line_;
    if (bad_) return false;
    if (i_ >= t_.size()) return true;
    char c = t_[i_];
    if (c == '{' || c == '}' || c == ';') {
      out.kind = Token::Punct;
      out.text = std::string(1, c);
      ++i_;
      return true;
    }
    if (c == '"') {
      out.kind = Token::String;
      for (++i_; i_ < t_.size() && t_[i_] != '"'; ++i_) {
        if (t_[i_] == '\\' && i_ + 1 < t_.size()) ++i_;
        if (t_[i_] == '\n') ++line_;
        out.text.push_back(t_[i_]);
      }
      if (i_ >= t_.size()) return false;
      ++i_;
      return true;
    }
    out.kind = Token::Word;
    while (i_ < t_.size() && !std::isspace(static_cast<unsigned char>(t_[i_])) && t_[i_] != '{' &&
           t_[i_] != '}' && t_[i_] != ';' && t_[i_] != '"')
      out.text.push_back(t_[i_++]);
    return true;
  }

 private:
  void skipSpaceAndComments() {
    while (i_ < t_.size()) {
      char c = t_[i_];
      if (c == '\n') {
        ++line_;
        ++i_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '#' || (c == '/' && i_ + 1 < t_.size() && t_[i_ + 1] == '/')) {
        while (i_ < t_.size() && t_[i_] != '\n') ++i_;
      } else if (c == '/' && i_ + 1 < t_.size() && t_[i_ + 1] == '*') {
        auto end = t_.find("*/", i_ + 2);
        if (end == std::string::npos) {
          bad_ = true;
          i_ = t_.size();
          return;
        }
        for (size_t k = i_; k < end; ++k)
          if (t_[k] == '\n') ++line_;
        i_ = end + 2;
      } else {
        return;
      }
    }
  }
  const std::string& t_;
  size_t i_ = 0;
  int line_ = 1;
  bool bad_ = false;
};

bool base64ish(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '+' && c != '/' && c != '=') return false;
  return true;
}

}  // namespace

Result<std::vector<std::string>> parseRndcKeyFile(const std::string& text) {
  static const std::string kShape = " (want: key \"NAME\" { algorithm ALGORITHM; secret \"BASE64\"; };)";
  if (text.size() > 64 * 1024) return makeError("larger than 64 KiB, not a key file");
  Lexer lx(text);
  Token t;
  std::vector<std::string> secrets;
  auto bad = [&](const std::string& what) {
    return makeError("line " + std::to_string(t.line) + ": " + what + kShape);
  };
  auto want = [&](Token::Kind k, const char* punct) {
    if (!lx.next(t)) return false;
    return t.kind == k && (!punct || t.text == punct);
  };
  for (;;) {
    if (!lx.next(t)) return bad("unterminated string or comment");
    if (t.kind == Token::End) break;
    if (t.kind != Token::Word || t.text != "key") return bad("expected a key statement");
    if (!lx.next(t) || (t.kind != Token::Word && t.kind != Token::String) || t.text.empty())
      return bad("expected the key's name");
    if (!want(Token::Punct, "{")) return bad("expected '{' after the key's name");
    bool algorithm = false;
    std::string secret;
    for (;;) {
      if (!lx.next(t)) return bad("unterminated string or comment");
      if (t.kind == Token::Punct && t.text == "}") break;
      if (t.kind != Token::Word || (t.text != "algorithm" && t.text != "secret"))
        return bad("expected algorithm or secret");
      if (t.text == "algorithm") {
        if (!lx.next(t) || t.kind != Token::Word || t.text.empty()) return bad("expected an algorithm name");
        algorithm = true;
      } else {
        if (!lx.next(t) || t.kind != Token::String || !base64ish(t.text))
          return bad("expected the secret as a quoted base64 string");
        secret = t.text;
      }
      if (!want(Token::Punct, ";")) return bad("expected ';'");
    }
    if (!want(Token::Punct, ";")) return bad("expected ';' after '}'");
    if (!algorithm || secret.empty()) return bad("a key needs both algorithm and secret");
    secrets.push_back(std::move(secret));
  }
  if (secrets.empty()) return makeError("no key statement" + kShape);
  return secrets;
}

}  // namespace tend::bind9
