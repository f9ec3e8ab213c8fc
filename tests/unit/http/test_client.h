// A deliberately dumb blocking HTTP client over a raw socket, so tests control every byte
// (stalls, huge headers, bodies the server refuses). Reads time out instead of hanging.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace cityroom::http::test {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  const std::string& header(const std::string& name) const {
    static const std::string kNone;
    auto it = headers.find(name);
    return it == headers.end() ? kNone : it->second;
  }
};

class TestClient {
 public:
  explicit TestClient(std::uint16_t port, const char* address = "127.0.0.1", int family = AF_INET) {
    fd_ = ::socket(family, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval timeout{kReadTimeoutS, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = -1;
    if (family == AF_INET) {
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      ::inet_pton(AF_INET, address, &addr.sin_addr);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } else {
      sockaddr_in6 addr{};
      addr.sin6_family = AF_INET6;
      addr.sin6_port = htons(port);
      ::inet_pton(AF_INET6, address, &addr.sin6_addr);
      rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
    if (rc != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~TestClient() { ::close(fd_); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Returns false if the peer stopped accepting data (reset or closed).
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  std::optional<RawResponse> get(std::string_view target) {
    if (!send("GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n\r\n")) return {};
    return read_response();
  }

  // Reads one response; `head` = the request was HEAD (no body follows the header).
  std::optional<RawResponse> read_response(bool head = false) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    RawResponse response;
    const std::string head_text = buffer_.substr(0, end + 2);
    buffer_.erase(0, end + 4);
    std::size_t line_end = head_text.find("\r\n");
    const std::string status_line = head_text.substr(0, line_end);
    response.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end + 2;
    while (pos < head_text.size()) {
      line_end = head_text.find("\r\n", pos);
      const std::string line = head_text.substr(pos, line_end - pos);
      pos = line_end + 2;
      const auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[name] = value;
    }
    if (head || response.status < 200 || response.status == 204 || response.status == 304) {
      return response;
    }
    const std::size_t length = std::stoul(response.header("content-length").empty()
                                              ? std::string("0")
                                              : response.header("content-length"));
    while (buffer_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // Reads up to and including `delimiter` (e.g. one SSE event ending in "\n\n"); nullopt if
  // the connection ends or stays silent for the read timeout first.
  std::optional<std::string> read_until(std::string_view delimiter) {
    std::size_t end;
    while ((end = buffer_.find(delimiter)) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    std::string out = buffer_.substr(0, end + delimiter.size());
    buffer_.erase(0, end + delimiter.size());
    return out;
  }

  // Blocks until the peer ends the connection (true) or the read timeout passes (false);
  // whatever arrives meanwhile is dropped.
  bool wait_for_close() {
    buffer_.clear();
    char chunk[16384];
    while (true) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

  // True when the server has closed the connection (EOF or reset) with nothing more to read.
  bool closed_by_peer() {
    if (!buffer_.empty()) return false;
    char c;
    const ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 1) buffer_ += c;
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

 private:
  static constexpr int kReadTimeoutS = 10;

  bool fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace cityroom::http::test
