"""The one grammar of ipy-oci, shared by the front ends that read command lines.

``parser`` is podman's command-line grammar (argparse), ``options`` turns parsed
flags into engine configs, ``signals`` reads signal names. The CLI (``ipy-oci``)
and the ``%oci`` magics both parse with it; neither imports the other.

It sits between the front ends and the engine: it may import ``ipy_oci.engine``,
``ipy_oci.config`` and ``ipy_oci.errors``, nothing below the engine. Importing this
package is free (the CLI's hot path imports only the modules it uses).
"""
