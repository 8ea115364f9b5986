"""A whole county's fleet of village stations against one real hub process: the simulation and its checks."""
