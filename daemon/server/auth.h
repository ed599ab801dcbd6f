#pragma once
// Credentials checks for the HTTP API: bearer tokens and Git webhook signatures. Comparisons
// are constant-time; nothing here logs a credential.
#include <string>

#include "core/result.h"

namespace tend::daemon {

// Reads a token/secret file: surrounding whitespace (a trailing newline) is not part of it.
Result<std::string> readSecretFile(const std::string& path);

bool constantTimeEquals(const std::string& a, const std::string& b);

// "Bearer <token>" against the expected token.
bool bearerMatches(const std::string& authorizationHeader, const std::string& token);

std::string hmacSha256Hex(const std::string& key, const std::string& data);

// GitHub: X-Hub-Signature-256: sha256=<hex>; Gitea: X-Gitea-Signature: <hex>.
// Pass whichever header is present (empty when absent).
bool webhookSignatureValid(const std::string& secret, const std::string& body,
                           const std::string& hubSignature256, const std::string& giteaSignature);

}  // namespace tend::daemon
