// The one translation unit that compiles Asio's and Beast's non-template code
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are set project-wide).
// Anything linking cityroom_http gets these symbols; nothing else may include these files.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
