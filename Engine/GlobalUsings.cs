global using FerEngine.Tensors;
