// live/viewer: what one viewer of live data may see — the access-control seam of screen streams
// and subscriptions' notifications, filled in by access control (api::Grant) and called from
// the fan-out, snapshot and matcher threads (so: thread-safe and quick).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "model/model.h"

namespace cityroom::live {

// The entity as its viewer may see it: nullopt when nothing of it is hidden (use the original,
// no copy), else a copy without the hidden attributes.
using Redact = std::function<std::optional<model::Entity>(const model::Entity&)>;

struct Viewer {
  std::function<bool(const model::Entity&)> may_see;  // null = every entity
  Redact redact;                                      // null = every attribute
  // Viewers with equal keys redact identically (streams render once per key); "" when
  // `redact` is null.
  std::string view_key;
};

// `e` as `redact` leaves it: points at `e` itself or at `scratch` holding the copy.
inline const model::Entity& redacted(const Redact& redact, const model::Entity& e,
                                     std::optional<model::Entity>& scratch) {
  if (!redact) return e;
  scratch = redact(e);
  return scratch ? *scratch : e;
}

}  // namespace cityroom::live
