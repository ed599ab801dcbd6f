#pragma once
// A small located YAML tree built from yaml-cpp's event parser. yaml-cpp's own Node keeps
// duplicate mapping keys silently and is slow to build; this tree keeps 1-based positions on
// every node, reports duplicate keys, and is cheap to walk.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/diagnostic.h"

namespace tend::spec {

struct YNode {
  enum class Kind : uint8_t { Null, Scalar, Seq, Map };
  Kind kind = Kind::Null;
  bool quoted = false;  // a non-plain scalar ("..." or '...'): never null/bool/number by YAML rules
  // Compose's merge tags: !reset (drop the inherited value), !override (replace, not merge).
  enum class Tag : uint8_t { None, Reset, Override };
  Tag tag = Tag::None;
  int line = 0;         // 1-based
  int col = 0;          // 1-based
  std::string value;    // scalars
  std::vector<const YNode*> items;                          // sequences
  std::vector<std::pair<const YNode*, const YNode*>> pairs;  // mappings, in file order

  bool isNull() const { return kind == Kind::Null; }
  bool isScalar() const { return kind == Kind::Scalar; }
  bool isSeq() const { return kind == Kind::Seq; }
  bool isMap() const { return kind == Kind::Map; }
  const char* kindName() const;
};

struct YDoc {
  std::string file;  // as shown in diagnostics
  std::deque<YNode> nodes;
  // Node stores of streamed entries (EntryStream) that define anchors: kept as long as the
  // document, since later nodes may alias into them.
  std::vector<std::shared_ptr<void>> keep;
  const YNode* root = nullptr;  // null for an empty file
};

// Largest spec file tend reads; larger files are rejected before reading them.
constexpr uint64_t kMaxSpecFileBytes = 4ull * 1024 * 1024;
// Limits on one YAML file, each refused with a location as soon as the parser reaches it, so
// that a hostile file costs milliseconds, never memory or time out of proportion to its size.
// An alias counts as what it repeats (readers walk it once per alias).
constexpr size_t kMaxYamlDepth = 64;            // nested collections
constexpr uint64_t kMaxYamlNodes = 1000000;     // nodes, aliases expanded
constexpr uint64_t kAliasAllowance = 100000;    // aliases may add the file's own nodes plus this

// Hands out the entries of the root mapping's `key` mapping (apps.yml's `apps`) while the
// file is still being parsed, each once it is complete: `onEntry` runs on the parsing thread
// and may pass the nodes to another thread, which may read them (and nodes they alias) at
// once: the parser never changes a node after handing it out. What was handed out is only
// a preview: it is the final entry list when parsing succeeded, `intact` stayed true, and
// the final tree's `key` mapping is `map` holding exactly those pairs in that order
// (duplicate or merge keys in that mapping change it at its end).
// A collection value is built in a node store of its own, `owner`: whoever takes the entry
// may free it once done with it, so a large file's tree is never whole in memory. The
// finished tree then keeps only the entries' keys: the values it points to are gone unless
// their store defines anchors (then the document keeps it: later nodes may alias into it).
struct EntryStream {
  std::string key;
  std::function<void(const YNode* k, const YNode* v, std::shared_ptr<void> owner)> onEntry;
  bool intact = true;          // false: an alias reached a node still being built; handing out stopped
  std::shared_ptr<void> failed;  // a document that failed to parse: kept, for the keys handed out
  const YNode* map = nullptr;  // the mapping the entries were taken from
};

// Reads and parses `path` (shown as `shown`). On any problem appends located errors to `diags`
// and returns null. `missingOk`: a missing file is not an error (returns null, no diagnostic).
std::unique_ptr<YDoc> readYamlFile(const std::string& path, const std::string& shown,
                                   Diagnostics& diags, bool missingOk, bool* missing = nullptr,
                                   EntryStream* stream = nullptr);
// Parses text already in memory.
std::unique_ptr<YDoc> parseYaml(const std::string& text, const std::string& shown,
                                Diagnostics& diags, EntryStream* stream = nullptr);

}  // namespace tend::spec
