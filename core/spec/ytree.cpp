#include "core/spec/ytree.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace tend::spec {

const char* YNode::kindName() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Scalar: return "a scalar";
    case Kind::Seq: return "a list";
    case Kind::Map: return "a mapping";
  }
  return "?";
}

namespace {

bool isNullScalar(const std::string& v) { return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL"; }

class Builder : public YAML::EventHandler {
 public:
  Builder(YDoc& doc, Diagnostics& diags) : doc_(doc), diags_(diags) {}

  int documents = 0;
  YAML::Mark secondDoc;

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) secondDoc = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    YNode* n = make(YNode::Kind::Null, mark);
    remember(anchor, n);
    add(n);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      add(make(YNode::Kind::Null, mark));
      return;
    }
    add(it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    bool quoted = tag == "!";
    YNode* n = make(!quoted && tag == "?" && isNullScalar(value) ? YNode::Kind::Null
                                                                 : YNode::Kind::Scalar,
                    mark);
    n->quoted = quoted;
    n->value = value;
    remember(anchor, n);
    add(n);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    YNode* n = make(YNode::Kind::Seq, mark);
    remember(anchor, n);
    add(n);
    stack_.push_back(Frame{n, nullptr});
  }
  void OnSequenceEnd() override { stack_.pop_back(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    YNode* n = make(YNode::Kind::Map, mark);
    remember(anchor, n);
    add(n);
    stack_.push_back(Frame{n, nullptr});
  }
  void OnMapEnd() override {
    YNode* m = stack_.back().node;
    stack_.pop_back();
    finishMap(m);
  }

 private:
  struct Frame {
    YNode* node;
    const YNode* pendingKey;  // maps: the key waiting for its value
  };

  YNode* make(YNode::Kind k, const YAML::Mark& mark) {
    doc_.nodes.emplace_back();
    YNode* n = &doc_.nodes.back();
    n->kind = k;
    n->line = mark.line + 1;
    n->col = mark.column + 1;
    return n;
  }
  void remember(YAML::anchor_t anchor, const YNode* n) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = n;
  }
  void add(const YNode* n) {
    if (stack_.empty()) {
      if (!doc_.root) doc_.root = n;
      return;
    }
    Frame& f = stack_.back();
    if (f.node->kind == YNode::Kind::Seq) {
      f.node->items.push_back(n);
    } else if (!f.pendingKey) {
      f.pendingKey = n;
    } else {
      f.node->pairs.emplace_back(f.pendingKey, n);
      f.pendingKey = nullptr;
    }
  }
  // Duplicate keys are errors (yaml-cpp keeps both silently); `<<` merge keys are applied.
  void finishMap(YNode* m) {
    std::map<std::string_view, const YNode*> seen;
    std::vector<const YNode*> merges;
    std::vector<std::pair<const YNode*, const YNode*>> kept;
    kept.reserve(m->pairs.size());
    for (auto& [k, v] : m->pairs) {
      if (k->kind == YNode::Kind::Scalar && !k->quoted && k->value == "<<") {
        merges.push_back(v);
        continue;
      }
      if (k->kind == YNode::Kind::Scalar || k->kind == YNode::Kind::Null) {
        auto [it, fresh] = seen.emplace(k->value, k);
        if (!fresh) {
          diags_.push_back({Severity::Error, {doc_.file, k->line, k->col},
                            "duplicate key '" + k->value + "' (first at line " +
                                std::to_string(it->second->line) + ")"});
          continue;
        }
      }
      kept.emplace_back(k, v);
    }
    for (const YNode* src : merges) {
      std::vector<const YNode*> maps;
      if (src->kind == YNode::Kind::Map) maps.push_back(src);
      else if (src->kind == YNode::Kind::Seq) maps = src->items;
      for (const YNode* mm : maps) {
        if (mm->kind != YNode::Kind::Map) {
          diags_.push_back({Severity::Error, {doc_.file, mm->line, mm->col},
                            "merge key '<<' needs a mapping or a list of mappings"});
          continue;
        }
        for (auto& [k, v] : mm->pairs)
          if (seen.emplace(k->value, k).second) kept.emplace_back(k, v);
      }
    }
    m->pairs = std::move(kept);
  }

  YDoc& doc_;
  Diagnostics& diags_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, const YNode*> anchors_;
};

}  // namespace

std::unique_ptr<YDoc> parseYaml(const std::string& text, const std::string& shown,
                                Diagnostics& diags) {
  auto doc = std::make_unique<YDoc>();
  doc->file = shown;
  Diagnostics local;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    Builder b(*doc, local);
    if (parser.HandleNextDocument(b)) {
      if (parser.HandleNextDocument(b) && b.documents >= 2) {
        local.push_back({Severity::Error, {shown, b.secondDoc.line + 1, b.secondDoc.column + 1},
                         "more than one YAML document in a spec file"});
      }
    }
  } catch (const YAML::Exception& e) {
    // e.msg is the bare message; what() repeats the position.
    local.push_back({Severity::Error, {shown, e.mark.line + 1, e.mark.column + 1},
                     "invalid YAML: " + e.msg});
  } catch (const std::exception& e) {
    local.push_back({Severity::Error, {shown, 1, 1}, std::string("invalid YAML: ") + e.what()});
  }
  if (hasErrors(local)) {
    diags.insert(diags.end(), local.begin(), local.end());
    return nullptr;
  }
  return doc;
}

std::unique_ptr<YDoc> readYamlFile(const std::string& path, const std::string& shown,
                                   Diagnostics& diags, bool missingOk, bool* missing) {
  if (missing) *missing = false;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      if (missing) *missing = true;
      if (missingOk) return nullptr;
      diags.push_back({Severity::Error, {shown, 1, 1}, "file not found"});
      return nullptr;
    }
    diags.push_back({Severity::Error, {shown, 1, 1}, std::string("cannot read: ") + std::strerror(err)});
    return nullptr;
  }
  if (S_ISDIR(st.st_mode)) {
    diags.push_back({Severity::Error, {shown, 1, 1}, "cannot read: is a directory"});
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    diags.push_back({Severity::Error, {shown, 1, 1}, "cannot read: not a regular file"});
    return nullptr;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxSpecFileBytes) {
    diags.push_back({Severity::Error, {shown, 1, 1},
                     "file too large (" + std::to_string(st.st_size) +
                         " bytes; spec files are limited to 4 MiB)"});
    return nullptr;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.push_back({Severity::Error, {shown, 1, 1}, std::string("cannot read: ") + std::strerror(errno)});
    return nullptr;
  }
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  // Guard against a file that grew between stat and read.
  if (in.peek() != std::char_traits<char>::eof()) {
    diags.push_back({Severity::Error, {shown, 1, 1}, "file changed while being read"});
    return nullptr;
  }
  return parseYaml(text, shown, diags);
}

}  // namespace tend::spec
