"""Journeys: playbooks that declare, per journey, the actions the engine may take.

A playbook is parsed and checked against the contract (`playbook_file.load_playbook`);
`decide.decide` chooses the next action as a pure function. Nothing serves a decision
over gRPC yet. Engine-free: no gRPC, no storage.
"""
