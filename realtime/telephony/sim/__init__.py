"""ARI-compatible PBX simulator: a stand-in Asterisk 22 for laptops, tests and demos.

It imports nothing from the rest of ``realtime``: it is a separate ARI server that
happens to ship inside the package.
"""
from .config import OutcomeMix, SimConfig
from .server import RunningSimulator, create_sim_app, start_simulator

__all__ = ["OutcomeMix", "SimConfig", "RunningSimulator", "create_sim_app", "start_simulator"]
