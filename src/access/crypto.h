// access/crypto: the few primitives access control needs — argon2id password hashes, SHA-256
// digests of high-entropy tokens, random tokens and a constant-time comparison.
//
// Passwords are hashed with argon2id (libargon2) at OWASP's recommended minimum (m=19 MiB,
// t=2, p=1: ~50 ms here, and a login costs the server 19 MiB for that long) into the PHC
// string format, which carries its own salt and parameters so they can be raised later
// without breaking old hashes. API keys and
// session tokens are 256-bit random values: SHA-256 of such a value cannot be reversed or
// guessed, so it is stored instead of the token and looked up directly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/base.h"

namespace cityroom::access {

// PHC string "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>".
base::Result<std::string> hash_password(std::string_view password);
// False for a wrong password or a malformed hash.
bool verify_password(std::string_view password, const std::string& phc);

// Lower-case hex SHA-256.
std::string sha256_hex(std::string_view data);
// `bytes` random bytes from the OS CSPRNG as lower-case hex (2×bytes characters).
std::string random_hex(std::size_t bytes);
// A password of letters and digits for the first admin (no ambiguous 0/O/1/l).
std::string random_password(std::size_t length);
// Compares without an early exit on the first difference (CSRF tokens).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace cityroom::access
