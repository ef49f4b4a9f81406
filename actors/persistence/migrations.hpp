#pragma once
// Versioned SQL migrations (actors/persistence/migrations/NNNN_name.sql),
// embedded at build time and applied in order under a PostgreSQL advisory
// lock, so several replicas starting at once never race on the schema.

#include <string>
#include <vector>

namespace ping::persistence {

struct migration {
  int version;
  const char* name;
  const char* sql;
};

/// All migrations, ordered by version.
const std::vector<migration>& migrations();

/// Applies every migration not yet recorded in `schema_migrations`, each in
/// its own transaction, while holding a session advisory lock. Blocking;
/// throws on failure. Returns the number of migrations applied.
int migrate(const std::string& dsn);

} // namespace ping::persistence
