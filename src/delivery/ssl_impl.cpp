// The one translation unit that compiles Asio's OpenSSL glue (context, engine, verification) in
// separate-compilation mode. It holds only the ssl/ sources: Asio's core and Beast come from
// src/http/asio_impl.cpp, so linking cityroom_http and cityroom_delivery into one binary defines
// every symbol once. Nothing else may include this file.
#include <boost/asio/ssl/impl/src.hpp>
