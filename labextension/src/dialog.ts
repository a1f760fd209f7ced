/**
 * The dialog of "ipy-oci: Open terminal in container…": pick a running
 * container and the command to run (the container's shell by default).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IContainer, IpyOciApi } from './api';
import { containerName } from './util';

export interface IContainerChoice {
  container: IContainer;
  command: string[];
}

class ChooserBody extends Widget implements Dialog.IBodyWidget<IContainerChoice | null> {
  constructor(containers: IContainer[], preselect?: string) {
    super();
    this.addClass('jp-IpyOci-chooser');
    this._containers = containers;

    const selectLabel = document.createElement('label');
    selectLabel.textContent = 'Container';
    this._select = document.createElement('select');
    this._select.className = 'jp-mod-styled jp-IpyOci-chooserSelect';
    for (const c of containers) {
      const option = document.createElement('option');
      option.value = c.Id;
      option.textContent = `${containerName(c)}  (${c.Image}, ${c.Status || c.State})`;
      this._select.appendChild(option);
      if (preselect && (c.Id.startsWith(preselect) || containerName(c) === preselect)) {
        option.selected = true;
      }
    }
    selectLabel.appendChild(this._select);

    const cmdLabel = document.createElement('label');
    cmdLabel.textContent = 'Command';
    this._command = document.createElement('input');
    this._command.className = 'jp-mod-styled jp-IpyOci-chooserCommand';
    this._command.value = 'sh';
    this._command.placeholder = 'sh';
    cmdLabel.appendChild(this._command);

    this.node.appendChild(selectLabel);
    this.node.appendChild(cmdLabel);
  }

  getValue(): IContainerChoice | null {
    const container = this._containers.find(c => c.Id === this._select.value);
    if (!container) {
      return null;
    }
    const command = this._command.value.trim().split(/\s+/).filter(Boolean);
    return { container, command: command.length ? command : ['sh'] };
  }

  protected onAfterAttach(): void {
    this._select.focus();
  }

  private _containers: IContainer[];
  private _select: HTMLSelectElement;
  private _command: HTMLInputElement;
}

/** Ask which running container to open a terminal in; null when cancelled. */
export async function chooseContainer(
  api: IpyOciApi,
  preselect?: string
): Promise<IContainerChoice | null> {
  const all = await api.listContainers();
  const running = all.filter(c => c.State === 'running');
  if (!running.length) {
    await showDialog({
      title: 'No running container',
      body:
        all.length === 0
          ? 'There is no container. Start one from a notebook, e.g. %oci run -d --name box busybox sleep 3600'
          : `None of the ${all.length} containers is running.`,
      buttons: [Dialog.okButton({ label: 'Close' })]
    });
    return null;
  }
  const result = await showDialog<IContainerChoice | null>({
    title: 'Open terminal in container',
    body: new ChooserBody(running, preselect),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Open' })],
    focusNodeSelector: 'select'
  });
  if (!result.button.accept) {
    return null;
  }
  return result.value;
}

