// Parsing of --listen HOST:PORT ([v6]:port too).
#pragma once

#include <charconv>
#include <cstdint>
#include <string>

#include "base/base.h"

namespace cityroom::app {

struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};

inline base::Result<ListenAddress> parse_listen_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return base::fail(base::ErrorKind::kInvalidRequest, "expected HOST:PORT, e.g. 127.0.0.1:8080");
  }
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || port > 65535) {
    return base::fail(base::ErrorKind::kInvalidRequest,
                      "the port must be a number from 0 to 65535");
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(port)};
}

}  // namespace cityroom::app
