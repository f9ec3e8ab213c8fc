# cityroom_loadgen: the HTTP load generator bench/run.sh drives (closed and open loop).
# Like bare_beast it links cityroom_http only for the separately compiled Asio/Beast sources.
add_executable(cityroom_loadgen ${CMAKE_CURRENT_LIST_DIR}/loadgen.cpp)
target_link_libraries(cityroom_loadgen PRIVATE cityroom_http Boost::json Threads::Threads)
