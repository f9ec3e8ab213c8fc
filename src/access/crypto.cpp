#include "access/crypto.h"

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>
#include <vector>

namespace cityroom::access {
namespace {

constexpr std::uint32_t kTimeCost = 2;
constexpr std::uint32_t kMemoryKiB = 19 * 1024;
constexpr std::uint32_t kLanes = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kPasswordMax = 1024;  // longer input is refused, not hashed

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    // Without randomness no secret may be made; this is not a recoverable condition.
    throw std::runtime_error("the OS random generator failed");
  }
}

}  // namespace

base::Result<std::string> hash_password(std::string_view password) {
  if (password.empty() || password.size() > kPasswordMax) {
    return base::fail(base::ErrorKind::kBadRequestData,
                      "a password must have 1 to 1024 characters");
  }
  std::array<unsigned char, kSaltBytes> salt{};
  random_bytes(salt.data(), salt.size());
  const std::size_t length =
      argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id);
  std::string encoded(length, '\0');
  const int rc = argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(),
                                       password.size(), salt.data(), salt.size(), kHashBytes,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return base::fail(base::ErrorKind::kInternalError,
                      std::string("argon2id: ") + argon2_error_message(rc));
  }
  encoded.resize(encoded.find('\0') == std::string::npos ? encoded.size() : encoded.find('\0'));
  return encoded;
}

bool verify_password(std::string_view password, const std::string& phc) {
  if (password.size() > kPasswordMax || !phc.starts_with("$argon2id$")) return false;
  return argon2id_verify(phc.c_str(), password.data(), password.size()) == ARGON2_OK;
}

std::string sha256_hex(std::string_view data) {
  // Fetched once: OpenSSL 3 looks the algorithm up on every EVP_sha256() digest otherwise,
  // which costs more than hashing a key (this runs on every authenticated request).
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &n, sha256 ? sha256 : EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  random_bytes(raw.data(), raw.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string random_password(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  while (out.size() < length) {
    unsigned char c = 0;
    random_bytes(&c, 1);
    // Rejection sampling keeps every character equally likely.
    if (c >= 256 - 256 % kAlphabet.size()) continue;
    out.push_back(kAlphabet[c % kAlphabet.size()]);
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cityroom::access
