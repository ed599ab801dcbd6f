#pragma once
// Host items: what one `host/NAME/KIND:KEY` resource asks of a machine, how the batched probe
// reports its state, and the shell script one apply of it sends. Pure functions of the payload
// (docs/resources.md, "host items"): no I/O here, so plan and the probe's parser are tested
// without a host.
//
// tend's record of an item lives on the host (/var/lib/tend/items/<sha256(id)[0:32]>: one line
// "id TAB spec-hash TAB detail"), so ownership, the applied hash and a file's written checksum
// survive a lost state database, and prune finds items that left the spec.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/provider.h"

namespace tend::ssh {

inline constexpr const char* kItemRecordDir = "/var/lib/tend/items";
// Restarts and reloads owed to a service because a file naming it in on_change was written:
// one file per (action, service), `restart-SVC` / `reload-SVC`, one changed path per line. They
// live on the host, so a tendd that stops between the write and the restart still restarts
// the service on its next pass; the service's apply removes them once it has run.
inline constexpr const char* kPendingDir = "/var/lib/tend/pending";
// The marker lines for `action` (restart|reload) of `service` after `path` changed ("" when
// the service name cannot be a file name: the restart is then kept in memory only).
std::string pendingMarkScript(const std::string& action, const std::string& service, const std::string& path);
// Removes the markers of `service` (after its restart or reload ran).
std::string pendingClearScript(const std::string& service);
inline constexpr const char* kBackupDir = "/var/lib/tend/backup";

// The kinds of host items, in the order they are applied when nothing else orders them.
const std::vector<std::string>& hostItemKinds();
bool isHostItemKind(const std::string& kind);

// What the probe found for one item: field -> value (a field may repeat: joined by '\n').
using ProbeFields = std::map<std::string, std::string>;

struct ProbeResult {
  std::map<std::string, std::string> facts;  // os, arch, hostname, disk_free_kb
  std::map<std::string, ProbeFields> items;  // by item id
  // tend's records on the host: id -> {hash, detail}
  std::map<std::string, std::pair<std::string, std::string>> records;
  std::map<std::string, std::string> packages;  // name -> "ii 1.2-3" (dpkg status abbrev, version)
  // The markers of kPendingDir: service -> changed paths.
  std::map<std::string, std::set<std::string>> pendingRestarts, pendingReloads;
};

// The one script a pass sends to a host: facts, every desired item's state, tend's records.
std::string probeScript(const std::vector<const DesiredResource*>& items);
ProbeResult parseProbe(const std::string& out);

// The item's observation from the probe: exists/owned/appliedHash come from tend's record;
// `ready` is whether the machine is as the item asks; `state.drift` lists what differs.
ObservedResource observeItem(const DesiredResource& r, const ProbeResult& p);
// An owned item that left the spec (from its record only).
ObservedResource observeRecord(const std::string& id, const ProbeResult& p);

// The record file of an item.
std::string recordPath(const std::string& id);
// Shell lines that write the item's record (hash, detail) atomically.
std::string recordScript(const std::string& id, const std::string& hash, const std::string& detail);
std::string forgetScript(const std::string& id);

// The file item's final content: the header mark (when the format allows comments) + content.
std::string fileContentWithMark(const std::string& id, const std::string& path, const std::string& content,
                                const nlohmann::json& spec);
// The comment leader for `path` ("#", "//", ";"), or "" when the format takes no comments.
std::string commentLeader(const std::string& path, const std::string& content);

// Apply scripts. `content` (files) travels on stdin and is checked against `sha` before the
// rename, so a write cut off half way never replaces the file.
std::string fileApplyScript(const DesiredResource& r, const std::string& sha);
std::string fileDeleteScript(const std::string& id, const std::string& path);
std::string itemApplyScript(const DesiredResource& r, bool restart, bool reload);
std::string itemDeleteScript(const std::string& id, const std::string& kind, const nlohmann::json& state);
// One apt transaction: install `install`, upgrade `latest`, remove `remove`; records `records`.
std::string aptScript(const std::vector<std::string>& install, const std::vector<std::string>& latest,
                      const std::vector<std::string>& remove,
                      const std::vector<std::pair<std::string, std::string>>& records,
                      int cacheValidSeconds);
// apt's answer when another process holds the dpkg lock.
bool isDpkgLockError(const std::string& text);

// "host/web/file:/etc/x" -> {"web", "file", "/etc/x"}; false when not an item id.
bool parseItemId(const std::string& id, std::string& host, std::string& kind, std::string& key);

}  // namespace tend::ssh
