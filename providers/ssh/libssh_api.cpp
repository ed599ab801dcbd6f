#include "providers/ssh/libssh_api.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace tend::ssh {
namespace {

// The soname of Debian's libssh-4 package (libssh 0.10), the one tend is built against.
constexpr const char* kSoname = "libssh.so.4";

LibSsh g_lib;
std::string g_error;  // empty once loaded

void load() {
  // Never closed: libssh keeps global state (its crypto set-up) for the process's lifetime.
  void* h = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = ::dlerror();
    g_error = std::string("cannot load ") + kSoname + " (" + (e ? e : "unknown error") +
              "): SSH needs the libssh-4 package";
    return;
  }
  std::string missing;
#define TEND_LIBSSH_RESOLVE(f)                                              \
  g_lib.f = reinterpret_cast<decltype(g_lib.f)>(::dlsym(h, #f));            \
  if (!g_lib.f) missing += std::string(missing.empty() ? "" : ", ") + #f;
  TEND_LIBSSH_FUNCTIONS(TEND_LIBSSH_RESOLVE)
#undef TEND_LIBSSH_RESOLVE
  if (!missing.empty()) {
    g_error = std::string(kSoname) + " lacks " + missing + " (tend needs libssh 0.10 or newer)";
    return;
  }
  if (g_lib.ssh_init() != SSH_OK) g_error = "libssh failed to initialise (ssh_init)";
}

}  // namespace

Result<void> loadLibssh() {
  static std::once_flag once;
  std::call_once(once, load);
  if (!g_error.empty()) return makeError(g_error, true);
  return {};
}

const LibSsh& lib() { return g_lib; }

}  // namespace tend::ssh
