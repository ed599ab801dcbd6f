#pragma once
#include <memory>
#include <string>

#include "core/result.h"
#include "core/state_store.h"

namespace tend {
// Opens (creating and migrating as needed) the SQLite state database in WAL mode.
// ":memory:" gives a private in-memory store for tests.
Result<std::unique_ptr<StateStore>> openSqliteStateStore(const std::string& path);
}  // namespace tend
