"""Work orders: the archive's inventory (mục lục hồ sơ) in, orders assigned to stations, followed to accepted."""

from server.workorders.inventory import Inventory, InventoryError, RowProblem, read_inventory
from server.workorders.orders import ImportResult, ProgressTracker, assign, import_inventory, overview, priority_of

__all__ = ["ImportResult", "Inventory", "InventoryError", "ProgressTracker", "RowProblem", "assign",
           "import_inventory", "overview", "priority_of", "read_inventory"]
