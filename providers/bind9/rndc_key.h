#pragma once
// rndc key files are credentials: tend checks one parses before handing it to rndc, whose
// errors about a malformed file quote pieces of it. Nothing here ever quotes the file.
#include <string>
#include <vector>

#include "core/result.h"

namespace tend::bind9 {

// The secrets of a BIND key file (`key "NAME" { algorithm ALG; secret "BASE64"; };`, one or
// more, with #, // and /* */ comments). The error says what is wrong and where (line), never
// what the file holds.
Result<std::vector<std::string>> parseRndcKeyFile(const std::string& text);

}  // namespace tend::bind9
