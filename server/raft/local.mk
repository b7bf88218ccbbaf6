# server/raft/local.mk - build rules for server/raft (empty until the component lands)
