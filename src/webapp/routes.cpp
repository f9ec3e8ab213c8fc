// The routes that put the Site at `/`.
#include "webapp/webapp.h"

namespace cityroom::webapp {

void register_routes(http::Router& router, api::Access& access,
                     std::shared_ptr<const Site> site) {
  for (const std::string_view pattern : {"/", "/{file}", "/assets/{file}"}) {
    router.add("GET", pattern,
               [&access, site, route = std::string(pattern)](http::Request&& request,
                                                             http::Respond respond) {
                 if (auto ok = access.check(request, {api::Operation::Kind::kRead, route, ""});
                     !ok) {
                   respond(std::move(ok.error()));
                   return;
                 }
                 respond(site->answer(request.path, request.header("if-none-match")));
               });
  }
}

}  // namespace cityroom::webapp
