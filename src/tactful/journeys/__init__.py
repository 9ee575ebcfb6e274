"""Journeys: playbooks that declare, per journey, the actions the engine may take.

This first step is the declaration only: a playbook is parsed and checked against
the contract (`playbook_file.load_playbook`); nothing here decides or serves an action
yet. Engine-free: no gRPC, no storage.
"""
