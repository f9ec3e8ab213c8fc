// Private to live/: the screen-stream wire format (docs/STREAMS.md) — parsing what a client
// sends and writing what the server sends. Messages are built as text directly so that one
// rendered delta body can be shared by every watch of a group with only the query name spliced
// in. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "live/streams.h"

namespace cityroom::live::stream {

struct ClientMessage {
  enum class Op { kWatch, kUnwatch };
  Op op = Op::kWatch;
  Watch watch;  // unwatch: only `query`
};

// A refused client message, with the query name when it could be read (for the error reply).
struct Refusal {
  std::string query;
  base::Error error;
};

std::expected<ClientMessage, Refusal> parse_client_message(std::string_view text,
                                                           std::size_t name_bytes_max);

// "<epoch>:<seq>"; nullopt when malformed.
struct Position {
  std::string epoch;
  std::uint64_t seq = 0;
};
std::optional<Position> parse_position(std::string_view text);
std::string event_id(std::string_view epoch, std::uint64_t seq);

// A JSON string literal (quoted, escaped).
std::string quote_json(std::string_view s);

// One entity's effect in a delta: `rendered` set = upsert, null = remove.
struct Effect {
  std::string id;
  std::shared_ptr<const std::string> rendered;
  std::uint64_t seq = 0;  // the feed event it comes from (not sent)
};

// `{"kind":"delta","query":<name>` — the per-watch part.
std::string delta_head(std::string_view quoted_name);
// `,"seq":N,"upsert":[...],"remove":[...]}` — the part shared by a group.
std::string delta_tail(std::uint64_t seq, const std::vector<Effect>& effects);

// The snapshot of `rendered` entities: one message, or with `part_entities` > 0 and more
// entities than that, parts of at most that many, each saying "part":k,"parts":n (the first
// replaces what the client held, the others add to it; all at `seq`).
std::vector<std::string> snapshot_messages(std::string_view quoted_name, std::string_view epoch,
                                           std::uint64_t seq, std::string_view reason,
                                           const std::vector<std::string>& rendered,
                                           std::size_t part_entities = 0);
std::string heartbeat_message(std::string_view epoch, std::uint64_t seq);
std::string resync_message(std::string_view quoted_name, std::string_view reason);
// `query` may be empty (a message whose name could not be read): "query":null.
std::string error_message(std::string_view query, const base::Error& error);

}  // namespace cityroom::live::stream
