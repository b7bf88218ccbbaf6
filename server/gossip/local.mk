# server/gossip/local.mk - build rules for server/gossip (empty until the component lands)
