"""A recovery task for Masakari's flows: reports itself in the notification's recovery_workflow_details."""

from masakari.engine.drivers.taskflow import base

MESSAGE = "hastack test task ran for host {host}"


class RecordTask(base.MasakariTask):
    """Needs only host_name, which the host and process flows provide."""

    def __init__(self, context, novaclient, **kwargs):
        kwargs["requires"] = ["host_name"]
        super().__init__(context, novaclient, **kwargs)

    def execute(self, host_name):
        self.update_details(MESSAGE.format(host=host_name), 1.0)
