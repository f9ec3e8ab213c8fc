// `cityroom history import|export`: the CSV routes driven from the command line with blocking
// Beast calls on one keep-alive connection (a batch job; nothing else waits for it).
// Import cuts the file into bodies under the server's default body limit (each with the
// header line), checks every one with ?validate=true first, and writes only when all are good,
// so a file with a bad line stores nothing.
#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "api/history_csv.h"

namespace cityroom::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

constexpr std::size_t kChunkBytesMax = 900 * 1024;  // under the server's 1 MiB default
constexpr auto kTimeout = std::chrono::seconds(300);

struct Url {
  std::string host, port, prefix;
};

std::optional<Url> parse_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  url.remove_prefix(kScheme.size());
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Url out;
  out.prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  const auto colon = authority.rfind(':');
  out.host = std::string(authority.substr(0, colon));
  out.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  if (out.host.empty()) return std::nullopt;
  return out;
}

class Client {
 public:
  Client(Url url, const HistoryCliOptions& o) : url_(std::move(url)), o_(o) {}

  // Status and body; nullopt after printing why the server could not be reached.
  std::optional<std::pair<int, std::string>> call(bhttp::verb verb, const std::string& target,
                                                   std::string body, std::string_view type) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!stream_) {
          asio::ip::tcp::resolver resolver(io_);
          stream_.emplace(io_);
          stream_->expires_after(kTimeout);
          stream_->connect(resolver.resolve(url_.host, url_.port));
        }
        bhttp::request<bhttp::string_body> req{verb, url_.prefix + target, 11};
        req.set(bhttp::field::host, url_.host);
        req.set(bhttp::field::accept, "text/csv, application/json");
        if (!o_.key.empty()) req.set("X-Api-Key", o_.key);
        if (!o_.tenant.empty()) req.set("NGSILD-Tenant", o_.tenant);
        if (!o_.context.empty()) {
          req.set(bhttp::field::link,
                  fmt::format("<{}>; rel=\"http://www.w3.org/ns/json-ld#context\"; "
                              "type=\"application/ld+json\"",
                              o_.context));
        }
        if (!type.empty()) req.set(bhttp::field::content_type, type);
        req.body() = body;
        req.prepare_payload();
        stream_->expires_after(kTimeout);
        bhttp::write(*stream_, req);
        beast::flat_buffer buffer;
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(1024ull * 1024 * 1024);
        bhttp::read(*stream_, buffer, parser);
        auto res = parser.release();
        if (!res.keep_alive()) stream_.reset();
        return std::pair{static_cast<int>(res.result_int()), std::move(res.body())};
      } catch (const std::exception& e) {
        stream_.reset();
        if (attempt == 1) {
          std::cerr << "cityroom history: " << url_.host << ":" << url_.port << ": " << e.what()
                    << "\n";
        }
      }
    }
    return std::nullopt;
  }

 private:
  Url url_;
  const HistoryCliOptions& o_;
  asio::io_context io_;
  std::optional<beast::tcp_stream> stream_;
};

// The file cut into bodies of whole lines, each starting with the header; first line numbers.
struct Chunk {
  std::string body;
  std::size_t offset = 0;  // lines of the file before this chunk's first data line, minus 1
};

std::vector<Chunk> chunks_of(const std::string& text) {
  std::vector<Chunk> out;
  const auto first_nl = text.find('\n');
  const std::string header =
      first_nl == std::string::npos ? text : text.substr(0, first_nl + 1);
  std::size_t pos = first_nl == std::string::npos ? text.size() : first_nl + 1;
  std::size_t line = 1;  // lines consumed so far
  while (pos < text.size()) {
    Chunk c;
    c.offset = line - 1;  // the server counts the chunk's header as line 1 + offset
    c.body = header;
    while (pos < text.size()) {
      auto nl = text.find('\n', pos);
      const std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
      if (c.body.size() > header.size() && c.body.size() + (end - pos) > kChunkBytesMax) break;
      c.body.append(text, pos, end - pos);
      pos = end;
      ++line;
    }
    out.push_back(std::move(c));
  }
  if (out.empty()) out.push_back({header, 0});
  return out;
}

void print_problem(const std::string& body) {
  std::cerr << "cityroom history: " << body << "\n";
}

}  // namespace

int history_import_command(const std::string& file, const HistoryCliOptions& o) {
  auto url = parse_url(o.url);
  if (!url) {
    std::cerr << "cityroom history: --url must be http://HOST:PORT[/prefix]\n";
    return 2;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "cityroom history: cannot read " << file << "\n";
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const auto chunks = chunks_of(ss.str());
  Client client(*url, o);
  const auto started = std::chrono::steady_clock::now();
  for (const auto& c : chunks) {  // check everything before writing anything
    auto r = client.call(bhttp::verb::post,
                         fmt::format("/cityroom/v1/history/import?validate=true&lineOffset={}",
                                     c.offset),
                         c.body, "text/csv");
    if (!r) return 1;
    if (r->first != 200) {
      print_problem(r->second);
      std::cerr << "cityroom history: nothing imported\n";
      return 1;
    }
  }
  std::size_t points = 0;
  for (const auto& c : chunks) {
    auto r = client.call(bhttp::verb::post,
                         fmt::format("/cityroom/v1/history/import?lineOffset={}", c.offset),
                         c.body, "text/csv");
    if (!r) return 1;
    if (r->first != 200) {
      print_problem(r->second);
      std::cerr << fmt::format("cityroom history: stopped after {} points\n", points);
      return 1;
    }
    auto body = json::parse(r->second);
    if (body && body->is_object()) {
      if (const auto* p = body->get_object().if_contains("points"); p && p->is_number()) {
        points += static_cast<std::size_t>(p->to_number<double>());
      }
    }
  }
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << fmt::format("imported {} points in {} request(s), {:.2f} s ({:.0f} points/s)\n",
                           points, chunks.size(), s, s > 0 ? points / s : 0.0);
  return 0;
}

int history_export_command(const std::string& query, const std::string& out_file,
                           const HistoryCliOptions& o) {
  auto url = parse_url(o.url);
  if (!url) {
    std::cerr << "cityroom history: --url must be http://HOST:PORT[/prefix]\n";
    return 2;
  }
  Client client(*url, o);
  auto r = client.call(bhttp::verb::get, "/cityroom/v1/history/export?" + query, "", "");
  if (!r) return 1;
  if (r->first != 200) {
    print_problem(r->second);
    return 1;
  }
  if (out_file.empty() || out_file == "-") {
    std::cout << r->second;
    return 0;
  }
  std::ofstream out(out_file, std::ios::binary);
  out << r->second;
  if (!out) {
    std::cerr << "cityroom history: cannot write " << out_file << "\n";
    return 1;
  }
  return 0;
}

}  // namespace cityroom::api
