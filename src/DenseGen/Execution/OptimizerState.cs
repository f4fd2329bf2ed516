namespace DenseGen.Execution;

/// <summary>The training state of a session beyond its weights (see <see cref="DenseNetSession.GetOptimizerState"/>).</summary>
/// <param name="Momentum">SGD momentum buffers, in parameter order.</param>
/// <param name="MomentumStarted">False before the first step (PyTorch's SGD then takes the gradient as the buffer).</param>
/// <param name="DropoutSeed">Seed of the dropout masks.</param>
/// <param name="ForwardCount">Training forwards so far: the position in the dropout stream.</param>
public sealed record OptimizerState(float[] Momentum, bool MomentumStarted, int DropoutSeed, uint ForwardCount);
