# bare_beast: the plain-Beast peer server that HTTP load benchmarks compare cityroom against.
# It links cityroom_http only for the separately compiled Asio/Beast sources (asio_impl.cpp).
add_executable(bare_beast ${CMAKE_CURRENT_LIST_DIR}/bare_beast.cpp)
target_link_libraries(bare_beast PRIVATE cityroom_http)
