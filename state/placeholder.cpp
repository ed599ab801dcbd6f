// Placeholder until the SQLite state store lands.
#include "state/sqlite_state_store.h"

namespace tend {
Result<std::unique_ptr<StateStore>> openSqliteStateStore(const std::string&) {
  return makeError("state store not built yet", true);
}
}  // namespace tend
