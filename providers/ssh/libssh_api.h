#pragma once
// libssh, loaded the first time an SSH session is opened or a host key parsed, not at every
// start of tendd: with the Kerberos libraries it pulls in, linking it cost each start ~1.5 ms
// (most sites that run `tendd --once` from a timer name no SSH host). The functions tend calls
// are reached through lib(), typed from libssh's own headers, so a call that does not match
// the installed libssh still fails to compile.
#include <libssh/libssh.h>
#include <libssh/server.h>  // ssh_send_keepalive is declared there but serves clients too
#include <libssh/sftp.h>

#include "core/result.h"

namespace tend::ssh {

#define TEND_LIBSSH_FUNCTIONS(X) \
  X(sftp_attributes_free) \
  X(sftp_chmod) \
  X(sftp_chown) \
  X(sftp_close) \
  X(sftp_extension_supported) \
  X(sftp_free) \
  X(sftp_fsync) \
  X(sftp_get_error) \
  X(sftp_init) \
  X(sftp_new) \
  X(sftp_open) \
  X(sftp_read) \
  X(sftp_stat) \
  X(sftp_unlink) \
  X(sftp_write) \
  X(ssh_channel_close) \
  X(ssh_channel_free) \
  X(ssh_channel_get_exit_status) \
  X(ssh_channel_is_eof) \
  X(ssh_channel_is_open) \
  X(ssh_channel_new) \
  X(ssh_channel_open_forward) \
  X(ssh_channel_open_forward_unix) \
  X(ssh_channel_open_session) \
  X(ssh_channel_read_nonblocking) \
  X(ssh_channel_read_timeout) \
  X(ssh_channel_request_exec) \
  X(ssh_channel_send_eof) \
  X(ssh_channel_window_size) \
  X(ssh_channel_write) \
  X(ssh_clean_pubkey_hash) \
  X(ssh_connect) \
  X(ssh_disconnect) \
  X(ssh_free) \
  X(ssh_get_error) \
  X(ssh_get_fd) \
  X(ssh_get_fingerprint_hash) \
  X(ssh_get_publickey_hash) \
  X(ssh_get_server_publickey) \
  X(ssh_init) \
  X(ssh_is_connected) \
  X(ssh_key_free) \
  X(ssh_key_type) \
  X(ssh_key_type_from_name) \
  X(ssh_key_type_to_char) \
  X(ssh_known_hosts_parse_line) \
  X(ssh_knownhosts_entry_free) \
  X(ssh_new) \
  X(ssh_options_set) \
  X(ssh_pki_import_privkey_base64) \
  X(ssh_pki_import_privkey_file) \
  X(ssh_pki_import_pubkey_base64) \
  X(ssh_send_keepalive) \
  X(ssh_session_is_known_server) \
  X(ssh_session_update_known_hosts) \
  X(ssh_string_free_char) \
  X(ssh_userauth_publickey)

struct LibSsh {
#define TEND_LIBSSH_MEMBER(f) decltype(&::f) f = nullptr;
  TEND_LIBSSH_FUNCTIONS(TEND_LIBSSH_MEMBER)
#undef TEND_LIBSSH_MEMBER
};

// Loads libssh.so.4 (once; later calls return the first outcome) and calls ssh_init(). The
// error names the library and what is missing (the libssh-4 package).
Result<void> loadLibssh();

// The loaded library. Only after loadLibssh() succeeded: every path that reaches a libssh
// call starts at Session::open or fingerprintOfPublicKey, which load it first.
const LibSsh& lib();

}  // namespace tend::ssh
