/**
 * ipy-oci JupyterLab extension: exec terminals in notebook outputs and tabs,
 * a live containers panel, and "ipy-oci: Open terminal in container…".
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IThemeManager,
  WidgetTracker,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ILauncher } from '@jupyterlab/launcher';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { ApiError, IContainer, IExecSession, IpyOciApi } from './api';
import { chooseContainer } from './dialog';
import { containerTerminalIcon, containersIcon } from './icons';
import { createRendererFactory } from './mime';
import { ContainersModel } from './model';
import { ContainersPanel } from './panel';
import { TerminalTab } from './tab';
import { ExecTerminal } from './terminal';
import { themeWatcher } from './theme';
import { containerName, EXEC_MIME_TYPE, terminalLabel } from './util';

export { EXEC_MIME_TYPE };

/** The command ids of the extension. */
export namespace CommandIDs {
  export const openTerminal = 'ipy-oci:open-terminal';
  export const attach = 'ipy-oci:attach-session';
  export const showPanel = 'ipy-oci:show-containers';
}

const PALETTE_CATEGORY = 'ipy-oci';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ipy-oci-labextension:plugin',
  description:
    'Exec terminals (xterm.js) for ipy-oci containers, in notebook outputs and tabs, and a live containers panel.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ICommandPalette, ILauncher, ILayoutRestorer, IThemeManager, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null,
    themeManager: IThemeManager | null,
    labShell: ILabShell | null
  ): void => {
    const api = new IpyOciApi(app.serviceManager.serverSettings);
    const tracker = new WidgetTracker<TerminalTab>({ namespace: 'ipy-oci-terminal' });

    // Terminals follow the theme: the theme manager says when a new theme is
    // fully loaded (the <body> attribute watch is the fallback).
    themeManager?.themeChanged.connect(() => themeWatcher().notify());

    const showTab = (tab: TerminalTab): void => {
      if (!tab.isAttached) {
        app.shell.add(tab, 'main', { mode: 'tab-after' });
      }
      app.shell.activateById(tab.id);
    };

    const openSessionTab = async (
      sessionId: string,
      label: string,
      ownsSession: boolean
    ): Promise<TerminalTab> => {
      const existing = tracker.find(
        t => t.terminal.sessionId === sessionId && !t.terminal.isDisposed
      );
      if (existing) {
        app.shell.activateById(existing.id);
        return existing;
      }
      const terminal = new ExecTerminal({ sessionId, api });
      const tab = new TerminalTab({ terminal, label, api, ownsSession });
      await tracker.add(tab);
      app.shell.add(tab, 'main');
      app.shell.activateById(tab.id);
      return tab;
    };

    // The MIME renderer, registered on the application's registry: every
    // notebook clones it, and the renderer can reach the shell.
    rendermime.addFactory(createRendererFactory({ api, showTab }), 0);

    const model = new ContainersModel({ api, interval: 1500 });
    const panel = new ContainersPanel(model, {
      openTerminal: (container: IContainer) =>
        app.commands.execute(CommandIDs.openTerminal, {
          container: container.Id
        }),
      attachSession: (session: IExecSession, container: IContainer | undefined) => {
        const pc = session.ProcessConfig ?? {};
        const cmd = [pc.entrypoint ?? '', ...(pc.arguments ?? [])].filter(Boolean);
        return app.commands.execute(CommandIDs.attach, {
          sessionId: session.ID,
          label: terminalLabel(container ? containerName(container) : undefined, cmd)
        });
      }
    });
    app.shell.add(panel, 'left', { rank: 750 });
    if (restorer) {
      restorer.add(panel, 'ipy-oci-containers');
    }

    app.commands.addCommand(CommandIDs.openTerminal, {
      label: args =>
        args['isLauncher'] ? 'Container Terminal' : 'ipy-oci: Open terminal in container…',
      caption: 'Open a terminal in a running container (a new exec session)',
      icon: args => (args['isPalette'] ? undefined : containerTerminalIcon),
      execute: async args => {
        let containerId = args['container'] as string | undefined;
        let command = args['command'] as string[] | undefined;
        let label: string;
        try {
          if (!containerId) {
            const choice = await chooseContainer(api);
            if (!choice) {
              return null;
            }
            containerId = choice.container.Id;
            command = choice.command;
            label = terminalLabel(containerName(choice.container), command);
          } else {
            const known = model.containers.find(c => c.Id === containerId);
            label = terminalLabel(known ? containerName(known) : containerId, command ?? ['sh']);
          }
          const sessionId = await api.createExec(containerId, {
            Cmd: command && command.length ? command : ['sh'],
            Tty: true,
            Env: ['TERM=xterm-256color'],
            User: '',
            WorkingDir: ''
          });
          void model.refresh();
          return await openSessionTab(sessionId, label, true);
        } catch (error) {
          await showErrorMessage(
            'Cannot open a terminal in the container',
            error instanceof ApiError ? error.message : (error as Error)
          );
          return null;
        }
      }
    });

    app.commands.addCommand(CommandIDs.attach, {
      label: 'ipy-oci: Attach to exec session',
      icon: containerTerminalIcon,
      execute: async args => {
        const sessionId = args['sessionId'] as string;
        if (!sessionId) {
          return null;
        }
        if (args['restore']) {
          // Restoring a tab from the last visit: only if the session lives.
          try {
            const info = await api.inspectExec(sessionId);
            if (info.State === 'stopped') {
              return null;
            }
          } catch {
            return null;
          }
        }
        return openSessionTab(
          sessionId,
          (args['label'] as string) || `exec ${sessionId.slice(0, 12)}`,
          !!args['owns']
        );
      }
    });

    app.commands.addCommand(CommandIDs.showPanel, {
      label: 'ipy-oci: Show containers',
      icon: args => (args['isPalette'] ? undefined : containersIcon),
      execute: () => {
        if (labShell) {
          labShell.activateById(panel.id);
        } else {
          app.shell.activateById(panel.id);
        }
      }
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.openTerminal, category: PALETTE_CATEGORY });
      palette.addItem({ command: CommandIDs.showPanel, category: PALETTE_CATEGORY });
    }
    if (launcher) {
      launcher.add({
        command: CommandIDs.openTerminal,
        category: 'Other',
        rank: 2,
        args: { isLauncher: true }
      });
    }
    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.attach,
        args: tab => ({
          sessionId: tab.terminal.sessionId,
          label: tab.label,
          owns: tab.ownsSession,
          restore: true
        }),
        name: tab => tab.terminal.sessionId
      });
    }
  }
};

export default plugin;
