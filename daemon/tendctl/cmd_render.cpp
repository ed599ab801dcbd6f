// tendctl render DIR --out OUTDIR: every file tend would deliver, offline (like `helm
// template`): the hosts' files (groups' files and derived ones: Caddyfile, Homepage, file_sd,
// Grafana provisioning, app config files, named.conf.options), zone files and the named.conf
// fragment, each under OUTDIR/<host>/<absolute path>. Secrets read "(secret)" unless --reveal.
// tendctl explain APP|ID [DIR]: what one app entry turns into, each value with FILE:LINE.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <iostream>
#include <regex>

#include <nlohmann/json.hpp>

#include "core/secrets.h"
#include "core/secrets/sops.h"
#include "core/spec.h"
#include "core/spec/derived.h"
#include "core/spec/explain.h"
#include "core/spec/model.h"
#include "daemon/tendctl/commands.h"
#include "providers/bind9/render.h"

namespace tend::ctl {

namespace fs = std::filesystem;

namespace {

std::string hideSecrets(const std::string& text) {
  static const std::regex re(R"(\$\{secret:[^}]*\})");
  return std::regex_replace(text, re, "(secret)");
}

bool safeRel(const std::string& p) {
  if (p.empty() || p[0] != '/') return false;
  for (const auto& part : fs::path(p)) if (part == "..") return false;
  return true;
}

}  // namespace

int cmdRender(const std::string& dir, const std::string& outDir, bool reveal, const std::string& keyFile,
              const std::string& output) {
  LoadResult r = loadSpecChecked(dir);
  for (const auto& d : r.diagnostics) std::cerr << d.str() << "\n";
  if (!r.ok()) return kFailure;
  std::unique_ptr<SecretResolver> resolver;
  if (reveal) {
    if (r.graph->secretsFile.empty()) {
      std::cerr << "tendctl render: --reveal: the spec has no secrets.file\n";
      return kFailure;
    }
    auto res = tend::secrets::openSopsFile(r.graph->secretsFile, keyFile);
    if (!res) {
      std::cerr << "tendctl render: --reveal: " << res.error().message << "\n";
      return kFailure;
    }
    resolver = std::move(*res);
  }
  struct Out {
    std::string host, path, kind, content;
  };
  std::vector<Out> files;
  for (const auto& res : r.graph->resources) {
    if (res.kind == "host") {
      const nlohmann::json hostFiles = res.spec.value("files", nlohmann::json::object());
      for (const auto& [path, f] : hostFiles.items()) {
        if (!f.contains("content")) continue;  // source: files are copied as they are
        files.push_back({res.spec.value("name", res.host), path, "file", f["content"].get<std::string>()});
      }
    } else if (res.kind == "zone") {
      auto z = bind9::parseZoneSpec(res.spec);
      if (!z) continue;
      // The serial is chosen on delivery (YYYYMMDDnn, ahead of the served one); 1 here.
      std::string body = bind9::renderZoneBody(*z, 1);
      files.push_back({z->server, z->file, "zone",
                       bind9::composeFile(";", res.id, res.hash, bind9::sha256Hex(bind9::renderZoneBody(*z, 0)), body)});
    } else if (res.kind == "dnsconf") {
      auto c = bind9::parseConfSpec(res.spec);
      if (!c) continue;
      std::string body = bind9::renderConfBody(*c);
      files.push_back({c->server, c->file, "named.conf", bind9::composeFile("//", res.id, res.hash, bind9::sha256Hex(body), body)});
    }
  }
  // Which derived kind a host file is (for the listing).
  for (const auto& d : spec::deriveFiles(*r.spec))
    for (auto& f : files)
      if (f.host == d.host && f.path == d.path) f.kind = d.kind;
  nlohmann::json listing = nlohmann::json::array();
  std::error_code ec;
  fs::create_directories(outDir, ec);
  if (ec) {
    std::cerr << "tendctl render: cannot create " << outDir << ": " << ec.message() << "\n";
    return kFailure;
  }
  for (auto& f : files) {
    if (!safeRel(f.path)) {
      std::cerr << "tendctl render: skipping unsafe path " << f.path << "\n";
      continue;
    }
    std::string text = f.content;
    if (resolver) {
      auto v = substituteSecrets(text, *resolver);
      if (!v) {
        std::cerr << "tendctl render: " << f.host << ":" << f.path << ": " << v.error().message << "\n";
        return kFailure;
      }
      text = v->reveal();
    } else {
      text = hideSecrets(text);
    }
    fs::path dst = fs::path(outDir) / f.host / f.path.substr(1);
    fs::create_directories(dst.parent_path(), ec);
    std::ofstream o(dst, std::ios::binary | std::ios::trunc);
    o << text;
    o.close();
    if (!o) {
      std::cerr << "tendctl render: cannot write " << dst.string() << "\n";
      return kFailure;
    }
    ::chmod(dst.c_str(), resolver ? 0600 : 0644);
    listing.push_back({{"host", f.host}, {"path", f.path}, {"kind", f.kind}, {"file", dst.string()}});
  }
  if (output == "json") {
    std::cout << listing.dump(2) << "\n";
  } else {
    for (const auto& l : listing)
      std::cout << l["kind"].get<std::string>() << "\t" << l["host"].get<std::string>() << ":" << l["path"].get<std::string>()
                << "\t" << l["file"].get<std::string>() << "\n";
  }
  return kOk;
}

int printExplain(const nlohmann::json& items, const std::string& output) {
  if (output == "json") {
    std::cout << items.dump(2) << "\n";
    return kOk;
  }
  // Grouped by what they belong to, in order of first appearance.
  auto s = [](const nlohmann::json& j, const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  std::vector<std::string> order;
  std::map<std::string, std::vector<const nlohmann::json*>> byId;
  for (const auto& i : items) {
    auto& v = byId[s(i, "id")];
    if (v.empty()) order.push_back(s(i, "id"));
    v.push_back(&i);
  }
  for (const auto& id : order) {
    const auto& v = byId[id];
    std::cout << s(*v.front(), "kind") << " " << id << "\n";
    for (const auto* i : v) {
      const auto& src = (*i)["source"];
      std::cout << "  " << s(*i, "field") << " = " << s(*i, "value") << "    (" << s(src, "file") << ":"
                << src.value("line", 0) << ":" << src.value("col", 0) << ")\n";
    }
  }
  return kOk;
}

int cmdExplain(const std::string& what, const std::string& dir, const std::string& output) {
  LoadResult r = loadSpecChecked(dir);
  for (const auto& d : r.diagnostics)
    if (d.severity == Severity::Error || !r.ok()) std::cerr << d.str() << "\n";
  if (!r.ok()) return kFailure;
  auto items = spec::explain(*r.spec, *r.graph, what);
  if (items.empty()) {
    std::cerr << "tendctl explain: no app or resource '" << what << "' in " << dir << "\n";
    return kFailure;
  }
  return printExplain(spec::explainJson(items), output);
}

}  // namespace tend::ctl
