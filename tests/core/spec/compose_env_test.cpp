// Compose interpolation and dotenv parsing, case by case against what Compose does.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/spec/compose_env.h"

using tend::spec::ComposeVars;
using tend::spec::interpolateCompose;
using tend::spec::parseDotenv;

namespace {

ComposeVars vars() {
  ComposeVars v;
  v.useProcessEnv = false;
  v.set("SET", "value");
  v.set("EMPTY", "");
  v.set("PORT", "8080");
  v.set("DOLLAR", "a$b");
  return v;
}

std::string interp(const std::string& in, bool escape = false, std::vector<std::string>* unset = nullptr) {
  std::string out, err;
  ComposeVars v = vars();
  REQUIRE(interpolateCompose(in, v, out, err, unset, escape));
  return out;
}

std::string interpErr(const std::string& in) {
  std::string out, err;
  ComposeVars v = vars();
  REQUIRE_FALSE(interpolateCompose(in, v, out, err, nullptr, false));
  return err;
}

}  // namespace

TEST_CASE("compose interpolation substitutes $VAR and ${VAR}", "[core][spec][compose]") {
  CHECK(interp("$SET") == "value");
  CHECK(interp("${SET}") == "value");
  CHECK(interp("x${SET}y") == "xvaluey");
  CHECK(interp("$SET/data") == "value/data");
  CHECK(interp("${PORT}:80") == "8080:80");
  CHECK(interp("$1 and $ alone") == "$1 and $ alone");
}

TEST_CASE("compose interpolation defaults, alternatives and errors follow Compose", "[core][spec][compose]") {
  CHECK(interp("${UNSET:-d}") == "d");
  CHECK(interp("${EMPTY:-d}") == "d");
  CHECK(interp("${EMPTY-d}") == "");
  CHECK(interp("${UNSET-d}") == "d");
  CHECK(interp("${SET:-d}") == "value");
  CHECK(interp("${SET:+alt}") == "alt");
  CHECK(interp("${EMPTY:+alt}") == "");
  CHECK(interp("${EMPTY+alt}") == "alt");
  CHECK(interp("${UNSET+alt}") == "");
  CHECK(interp("${UNSET:-${SET}}") == "value");
  CHECK(interp("${UNSET:-${ALSO_UNSET:-deep}}") == "deep");
  CHECK(interp("${SET:?must}") == "value");
  CHECK(interpErr("${UNSET:?must be set}").find("required variable UNSET is missing a value: must be set") != std::string::npos);
  CHECK(interpErr("${EMPTY:?x}").find("EMPTY") != std::string::npos);
  CHECK(interp("${EMPTY?x}") == "");
  CHECK(interpErr("${UNSET?x}").find("UNSET") != std::string::npos);
}

TEST_CASE("compose interpolation escapes, unset warnings and bad names", "[core][spec][compose]") {
  CHECK(interp("$$SET") == "$SET");
  CHECK(interp("$${SET}") == "${SET}");
  CHECK(interp("$$SET", true) == "$$SET");  // kept literal through tend's own ${} pass
  CHECK(interp("$DOLLAR", true) == "a$$b");
  std::vector<std::string> unset;
  CHECK(interp("a${UNSET}b$OTHER", false, &unset) == "ab");
  CHECK(unset == std::vector<std::string>{"UNSET", "OTHER"});
  CHECK(interpErr("${VAR NAME}").find("invalid interpolation format") != std::string::npos);
  CHECK(interpErr("${}").find("invalid interpolation format") != std::string::npos);
  CHECK(interpErr("${ SET}").find("invalid interpolation format") != std::string::npos);
  CHECK(interpErr("${SET").find("unterminated") != std::string::npos);
}

TEST_CASE("compose interpolation leaves tend references alone", "[core][spec][compose]") {
  CHECK(interp("${secret:db_password}") == "${secret:db_password}");
  CHECK(interp("${environment.domain}/x") == "${environment.domain}/x");
  CHECK(interp("${app.dir}/data:/data") == "${app.dir}/data:/data");
  CHECK(interp("${vms.ca.ip}") == "${vms.ca.ip}");
  CHECK(interp("${UNSET:-${environment.domain}}") == "${environment.domain}");
}

namespace {
std::vector<std::pair<std::string, std::string>> dotenv(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string err;
  auto lookup = [](const std::string& n) -> std::optional<std::string> {
    if (n == "FROM_ENV") return std::string("env-value");
    return std::nullopt;
  };
  INFO(text);
  REQUIRE(parseDotenv(text, lookup, out, err));
  return out;
}
std::string dotenvErr(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string err;
  REQUIRE_FALSE(parseDotenv(text, nullptr, out, err));
  return err;
}
using KV = std::vector<std::pair<std::string, std::string>>;
}  // namespace

TEST_CASE("env files are parsed by Compose's dotenv rules", "[core][spec][compose]") {
  CHECK(dotenv("A=1\nB=two words\n") == KV{{"A", "1"}, {"B", "two words"}});
  CHECK(dotenv("A=value # comment\n") == KV{{"A", "value"}});
  CHECK(dotenv("A=val#ue\n") == KV{{"A", "val#ue"}});
  CHECK(dotenv("  A  =  spaced  \n") == KV{{"A", "spaced"}});
  CHECK(dotenv("A=\"line1\\nline2\"\n") == KV{{"A", "line1\nline2"}});
  CHECK(dotenv("A='raw\\n $X'\n") == KV{{"A", "raw\\n $X"}});
  CHECK(dotenv("A=\"quoted\" # trailing comment\n") == KV{{"A", "quoted"}});
  CHECK(dotenv("A: yaml style\n") == KV{{"A", "yaml style"}});
  CHECK(dotenv("export A=exported\n") == KV{{"A", "exported"}});
  CHECK(dotenv("# comment\n\nA=1\n") == KV{{"A", "1"}});
  // A bare KEY is inherited from the environment, and left unset when it has none.
  CHECK(dotenv("FROM_ENV\nNOT_THERE\n") == KV{{"FROM_ENV", "env-value"}});
  CHECK(dotenv("A=1\nB=${A}-x\nC=$FROM_ENV\n") == KV{{"A", "1"}, {"B", "1-x"}, {"C", "env-value"}});
  CHECK(dotenv("A=\"multi\nline\"\n") == KV{{"A", "multi\nline"}});
  CHECK(dotenv("A=\n") == KV{{"A", ""}});
  CHECK(dotenvErr("MY KEY=1\n").find("space") != std::string::npos);
  CHECK(dotenvErr("A=\"open\n").find("unterminated") != std::string::npos);
  CHECK(dotenvErr("A=1\nB$=2\n").find("line 2") != std::string::npos);
}
