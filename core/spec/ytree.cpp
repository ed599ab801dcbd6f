#include "core/spec/ytree.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <yaml.h>

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

YNode::Tag tagOf(const unsigned char* tag) {
  if (!tag) return YNode::Tag::None;
  std::string_view t(reinterpret_cast<const char*>(tag));
  if (t == "!reset") return YNode::Tag::Reset;
  if (t == "!override") return YNode::Tag::Override;
  return YNode::Tag::None;
}

bool isNullScalar(const std::string& v) { return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL"; }

// Builds the tree from libyaml events: libyaml is an order of magnitude faster than
// yaml-cpp's scanner, which dominated loading large specs.
class Builder {
 public:
  Builder(YDoc& doc, Diagnostics& diags, EntryStream* stream) : doc_(doc), diags_(diags), stream_(stream) {}

  // Returns false on a parse error (already reported).
  bool run(const std::string& text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
      report(1, 1, "invalid YAML: cannot initialise the parser");
      return false;
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    bool ok = true;
    int documents = 0;
    while (true) {
      yaml_event_t ev;
      if (!yaml_parser_parse(&parser, &ev)) {
        std::string msg = "invalid YAML: ";
        msg += parser.problem ? parser.problem : "syntax error";
        if (parser.context) msg += std::string(" ") + parser.context;
        report(static_cast<int>(parser.problem_mark.line) + 1, static_cast<int>(parser.problem_mark.column) + 1, msg);
        ok = false;
        break;
      }
      yaml_event_type_t type = ev.type;
      int line = static_cast<int>(ev.start_mark.line) + 1;
      int col = static_cast<int>(ev.start_mark.column) + 1;
      switch (type) {
        case YAML_DOCUMENT_START_EVENT:
          if (++documents == 2) {
            report(line, col, "more than one YAML document in a spec file");
            ok = false;
          }
          break;
        case YAML_SCALAR_EVENT: {
          if (!count(line, col)) {
            ok = false;
            break;
          }
          const auto& sc = ev.data.scalar;
          bool plain = sc.style == YAML_PLAIN_SCALAR_STYLE || sc.style == YAML_ANY_SCALAR_STYLE;
          std::string value(reinterpret_cast<const char*>(sc.value), sc.length);
          bool tagged = sc.tag != nullptr;
          YNode* n = make(plain && !tagged && isNullScalar(value) ? YNode::Kind::Null : YNode::Kind::Scalar, line, col);
          n->quoted = !plain;
          n->tag = tagOf(sc.tag);
          n->value = std::move(value);
          remember(sc.anchor, n, Meta{1, 1});
          add(n, Meta{1, 1});
          handOut();
          break;
        }
        case YAML_ALIAS_EVENT: {
          const char* name = reinterpret_cast<const char*>(ev.data.alias.anchor);
          auto it = anchors_.find(name);
          if (it == anchors_.end()) {
            if (!count(line, col)) {
              ok = false;
              break;
            }
            add(make(YNode::Kind::Null, line, col), Meta{1, 1});
          } else {
            if (!aliasFits(it->second, name, line, col)) {
              ok = false;
              break;
            }
            add(it->second.node, it->second.meta);
          }
          handOut();
          break;
        }
        case YAML_SEQUENCE_START_EVENT: {
          if (!count(line, col) || !nest(line, col)) {
            ok = false;
            break;
          }
          if (stream_ && atEntryValue()) beginEntryStore();
          YNode* n = make(YNode::Kind::Seq, line, col);
          n->tag = tagOf(ev.data.sequence_start.tag);
          open(ev.data.sequence_start.anchor, n);
          break;
        }
        case YAML_MAPPING_START_EVENT: {
          if (!count(line, col) || !nest(line, col)) {
            ok = false;
            break;
          }
          if (stream_ && atEntryValue()) beginEntryStore();
          YNode* n = make(YNode::Kind::Map, line, col);
          n->tag = tagOf(ev.data.mapping_start.tag);
          if (stream_ && isStreamKeyValue()) {
            if (stream_->map) stream_->intact = false;  // a second `key:` (a duplicate-key error follows)
            else stream_->map = n;
          }
          open(ev.data.mapping_start.anchor, n);
          break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
          YNode* m = close();
          if (type == YAML_MAPPING_END_EVENT) finishMap(m);
          handOut();
          break;
        }
        default:
          break;
      }
      yaml_event_delete(&ev);
      if (type == YAML_STREAM_END_EVENT || !ok) break;
    }
    yaml_parser_delete(&parser);
    return ok;
  }

 private:
  // What a node costs whoever reads it, aliases followed: its nodes and its height.
  struct Meta {
    uint64_t weight = 1;  // saturates far above any limit
    uint32_t height = 1;
  };
  struct Anchor {
    const YNode* node = nullptr;
    Meta meta;
    bool open = false;  // a collection not closed yet: an alias to it would make a cycle
  };
  struct Frame {
    YNode* node;
    size_t start;  // its children begin here in scratch_ (maps: key, value, key, value, ...)
    Anchor* anchor;  // the anchor naming it, if any (std::map nodes stay where they are)
  };

  // One more node written in the file: false (reported) past the node budget.
  bool count(int line, int col) {
    if (++nodes_ + aliasNodes_ <= kMaxYamlNodes) return true;
    report(line, col, "too many YAML nodes (more than " + std::to_string(kMaxYamlNodes) +
                          ", aliases counted as what they repeat)");
    return false;
  }
  // A collection about to open: false (reported) past the depth limit.
  bool nest(int line, int col) {
    if (stack_.size() < kMaxYamlDepth) return true;
    report(line, col, "YAML nested deeper than " + std::to_string(kMaxYamlDepth) + " levels");
    return false;
  }
  // An alias repeats what its anchor names: readers walk it once per alias, so it counts
  // against the depth limit and the node budget as if written out. A cycle (an alias inside
  // the collection it names) is refused: no reader could walk it to its end.
  bool aliasFits(const Anchor& a, const char* name, int line, int col) {
    std::string shown = std::string("alias '*") + name + "'";
    if (a.open) {
      report(line, col, shown + " refers to a collection that contains it (recursive YAML is not allowed)");
      return false;
    }
    if (stack_.size() + a.meta.height > kMaxYamlDepth) {
      report(line, col, shown + " nests deeper than " + std::to_string(kMaxYamlDepth) + " levels");
      return false;
    }
    aliasNodes_ = std::min<uint64_t>(aliasNodes_ + a.meta.weight, kSaturated);
    if (aliasNodes_ > nodes_ + kAliasAllowance || nodes_ + aliasNodes_ > kMaxYamlNodes) {
      report(line, col, shown + ": aliases expand to more than the file holds plus " +
                            std::to_string(kAliasAllowance) + " nodes");
      return false;
    }
    return true;
  }
  static constexpr uint64_t kSaturated = uint64_t{1} << 62;

  // True when the collection about to be added is the value of the root mapping's stream key.
  bool isStreamKeyValue() const {
    if (stack_.size() != 1 || stack_[0].node != doc_.root || doc_.root->kind != YNode::Kind::Map) return false;
    size_t n = scratch_.size() - stack_[0].start;
    if (n % 2 != 1) return false;  // not at a value
    const YNode* k = scratch_.back();
    return k->kind == YNode::Kind::Scalar && !k->quoted && k->value == stream_->key;
  }
  // True when the collection about to start is an entry's value in the streamed mapping.
  bool atEntryValue() const {
    if (!stream_->intact || !stream_->map || stack_.size() != 2 || stack_[1].node != stream_->map) return false;
    return (scratch_.size() - stack_[1].start) % 2 == 1;
  }
  void beginEntryStore() {
    entryStore_ = std::make_shared<std::deque<YNode>>();
    store_ = entryStore_.get();
    entryAnchors_ = false;
  }
  // After a value of the streamed mapping is complete: hand out its (key, value) and the
  // store it was built in (null for a scalar or an alias: those live in the document).
  void handOut() {
    if (!stream_ || !stream_->intact || !stream_->map || stack_.size() != 2 || stack_[1].node != stream_->map) return;
    size_t n = scratch_.size() - stack_[1].start;
    if (n == 0 || n % 2 != 0) return;
    std::shared_ptr<void> owner;
    if (entryStore_) {
      if (entryAnchors_) doc_.keep.push_back(entryStore_);
      owner = std::move(entryStore_);
      entryStore_.reset();
      store_ = &doc_.nodes;
    }
    stream_->onEntry(scratch_[scratch_.size() - 2], scratch_.back(), std::move(owner));
  }

  void report(int line, int col, std::string msg) {
    diags_.push_back({Severity::Error, {doc_.file, line, col}, std::move(msg)});
  }
  YNode* make(YNode::Kind k, int line, int col) {
    store_->emplace_back();
    YNode* n = &store_->back();
    n->kind = k;
    n->line = line;
    n->col = col;
    return n;
  }
  Anchor* remember(const unsigned char* anchor, const YNode* n, Meta meta, bool open = false) {
    if (!anchor) return nullptr;
    Anchor& a = anchors_[reinterpret_cast<const char*>(anchor)];
    a = Anchor{n, meta, open};
    if (entryStore_) entryAnchors_ = true;
    return &a;
  }
  // A collection starts: its children follow until close().
  void open(const unsigned char* anchor, YNode* n) {
    Anchor* a = remember(anchor, n, Meta{}, true);
    add(n, Meta{});  // its meta is written into scratchMeta_ when it closes
    stack_.push_back(Frame{n, scratch_.size(), a});
  }
  // Children are collected on one shared stack and copied into their parent when it closes,
  // in one allocation of the exact size (no growth of a vector per node).
  void add(const YNode* n, Meta meta) {
    if (stack_.empty()) {
      if (!doc_.root) doc_.root = n;
      return;
    }
    scratch_.push_back(n);
    scratchMeta_.push_back(meta);
  }
  YNode* close() {
    Frame f = stack_.back();
    stack_.pop_back();
    auto b = scratch_.begin() + static_cast<std::ptrdiff_t>(f.start);
    size_t n = scratch_.size() - f.start;
    Meta meta;
    for (size_t i = f.start; i < scratchMeta_.size(); ++i) {
      meta.weight = std::min<uint64_t>(meta.weight + scratchMeta_[i].weight, kSaturated);
      meta.height = std::max<uint32_t>(meta.height, scratchMeta_[i].height + 1);
    }
    scratchMeta_.resize(f.start);
    if (!stack_.empty()) scratchMeta_.back() = meta;  // this collection's own entry in its parent
    // Re-defined inside itself, the anchor names the later node: left alone.
    if (f.anchor && f.anchor->node == f.node) f.anchor->meta = meta, f.anchor->open = false;
    if (f.node->kind == YNode::Kind::Seq) {
      f.node->items.assign(b, scratch_.end());
    } else {
      f.node->pairs.reserve(n / 2);
      for (size_t i = 0; i + 1 < n; i += 2) f.node->pairs.emplace_back(b[i], b[i + 1]);  // a lone key is dropped
    }
    scratch_.resize(f.start);
    return f.node;
  }
  // Duplicate keys are errors (yaml-cpp keeps both silently); `<<` merge keys are applied.
  void finishMap(YNode* m) {
    // The common case, a small map without merge keys, checked without allocating: a linear
    // scan over the earlier keys finds the same first occurrence the set below would.
    if (m->pairs.size() <= 16) {
      bool simple = true;
      for (size_t i = 0; i < m->pairs.size() && simple; ++i) {
        const YNode* k = m->pairs[i].first;
        if (k->kind == YNode::Kind::Scalar && !k->quoted && k->value == "<<") simple = false;
        if (k->kind != YNode::Kind::Scalar && k->kind != YNode::Kind::Null) continue;
        for (size_t j = 0; j < i && simple; ++j) {
          const YNode* e = m->pairs[j].first;
          if ((e->kind == YNode::Kind::Scalar || e->kind == YNode::Kind::Null) && e->value == k->value) simple = false;
        }
      }
      if (simple) return;  // nothing to drop, nothing to merge: pairs stay as they are
    }
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
  EntryStream* stream_;
  std::deque<YNode>* store_ = &doc_.nodes;         // where make() puts nodes
  std::shared_ptr<std::deque<YNode>> entryStore_;  // the streamed entry being built, if any
  bool entryAnchors_ = false;                      // it defines an anchor
  std::vector<Frame> stack_;
  std::vector<const YNode*> scratch_;
  std::vector<Meta> scratchMeta_;  // beside scratch_
  std::map<std::string, Anchor> anchors_;
  uint64_t nodes_ = 0;       // written in the file
  uint64_t aliasNodes_ = 0;  // repeated through aliases
};

}  // namespace

std::unique_ptr<YDoc> parseYaml(const std::string& text, const std::string& shown,
                                Diagnostics& diags, EntryStream* stream) {
  auto doc = std::make_unique<YDoc>();
  doc->file = shown;
  Diagnostics local;
  Builder b(*doc, local, stream);
  b.run(text);
  if (hasErrors(local)) {
    diags.insert(diags.end(), local.begin(), local.end());
    if (stream) stream->failed = std::shared_ptr<YDoc>(std::move(doc));
    return nullptr;
  }
  return doc;
}

std::unique_ptr<YDoc> readYamlFile(const std::string& path, const std::string& shown,
                                   Diagnostics& diags, bool missingOk, bool* missing, EntryStream* stream) {
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
  return parseYaml(text, shown, diags, stream);
}

}  // namespace tend::spec
